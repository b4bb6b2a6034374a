// One question to msclawd with a hard deadline: which model should this turn use?
// Any failure (no socket, refused, an error reply, no answer in time) is "no choice" and never
// an exception; no socket or no answer is also remembered, so the next turns skip the attempt.
import net from "node:net";
import { parseModelChoice } from "./wire.js";

/**
 * Resolves to `{provider, model}` or null within `timeoutMs` (plus a timer tick). `answered`
 * resolves once msclawd has taken every report sent before (the last turn's call may have ended a
 * moment ago: msclawd must count it before it chooses); waiting for it spends the same budget.
 */
export async function askModelChoice({ socketPath, away, timeoutMs, line, answered = Promise.resolve() }) {
  if (away.skipChoice()) return null;
  const started = performance.now();
  if (!(await settlesWithin(answered, timeoutMs))) {
    away.markSlow();
    return null;
  }
  return ask({ socketPath, away, timeoutMs: timeoutMs - (performance.now() - started), line });
}

/** True when `promise` settles within `ms`, false after `ms`; never rejects. */
function settlesWithin(promise, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const settled = () => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(settled, settled);
  });
}

function ask({ socketPath, away, timeoutMs, line }) {
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
