// One question to msclawd with a hard deadline: which model should this turn use?
// Any failure (no socket, refused, an error reply, no answer in time) is "no choice" and never
// an exception; a failure to reach msclawd also marks it away so the next turns skip the attempt.
import net from "node:net";
import { parseModelChoice } from "./wire.js";

/** Resolves to `{provider, model}` or null within `timeoutMs` (plus a timer tick). */
export function askModelChoice({ socketPath, away, timeoutMs, line }) {
  if (away.isAway()) return Promise.resolve(null);
  return new Promise((resolve) => {
    let settled = false;
    let buffered = "";
    const socket = net.createConnection({ path: socketPath });
    const finish = (choice, unreachable) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (unreachable) away.mark();
      resolve(choice);
    };
    const timer = setTimeout(() => finish(null, true), timeoutMs);
    socket.unref();
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${line}\n`));
    socket.on("data", (chunk) => {
      buffered += chunk;
      const end = buffered.indexOf("\n");
      if (end >= 0) finish(parseModelChoice(buffered.slice(0, end)), false);
    });
    socket.on("error", () => finish(null, true));
    socket.on("close", () => finish(null, true));
  });
}
