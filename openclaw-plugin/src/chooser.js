// One question to msclawd with a hard deadline: which model should this turn use?
// Any failure (no socket, refused, an error reply, no answer in time) is "no choice" and never
// an exception; no socket or no answer is also remembered, so the next turns skip the attempt.
import net from "node:net";
import { parseModelChoice } from "./wire.js";

/** Resolves to `{provider, model}` or null within `timeoutMs` (plus a timer tick). */
export function askModelChoice({ socketPath, away, timeoutMs, line }) {
  if (away.skipChoice()) return Promise.resolve(null);
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    let buffered = "";
    const socket = net.createConnection({ path: socketPath });
    // `failure`: "unreachable" (no socket, refused), "slow" (no answer in time), or null.
    const finish = (choice, failure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (failure === "slow") away.markSlow();
      if (failure === "unreachable") away.markUnreachable();
      resolve(choice);
    };
    const broken = () => finish(null, connected ? "slow" : "unreachable");
    const timer = setTimeout(() => finish(null, "slow"), timeoutMs);
    socket.unref();
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      connected = true;
      away.markReachable();
      socket.write(`${line}\n`);
    });
    socket.on("data", (chunk) => {
      buffered += chunk;
      const end = buffered.indexOf("\n");
      if (end >= 0) finish(parseModelChoice(buffered.slice(0, end)), null);
    });
    socket.on("error", broken);
    socket.on("close", broken);
  });
}
