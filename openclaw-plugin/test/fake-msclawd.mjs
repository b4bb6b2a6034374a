// A fake msclawd for the plugin's tests: a unix socket speaking msclawd's NDJSON framing (one
// request line, one reply line carrying `protocol`). It records every request it reads.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const tempDirs = [];
process.on("exit", () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A socket path in a fresh temp dir, removed when the test process ends. */
export function tempSocketPath() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "msclaw-plugin-"));
  tempDirs.push(dir);
  return path.join(dir, "msclawd.sock");
}

/**
 * `answer(request)` returns the reply body (`{Ok: …}` / `{Err: …}`), a promise of it, or undefined
 * to never answer.
 * Resolves once listening, to `{ requests, waitFor(n), close() }`.
 */
export async function startFakeMsclawd(socketPath, answer = defaultAnswer) {
  const requests = [];
  const waiters = [];
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {}); // a client that gave up (closed before the answer) is fine
    socket.setEncoding("utf8");
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk;
      let end;
      while ((end = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        const request = JSON.parse(line);
        requests.push(request);
        for (const waiter of [...waiters]) waiter();
        // A promise is an answer that takes time (as msclawd's engine does for a report).
        Promise.resolve(answer(request)).then((body) => {
          if (body !== undefined && !socket.destroyed) socket.write(`${JSON.stringify({ protocol: 1, ...body })}\n`);
        });
      }
    });
  });
  await new Promise((resolve) => server.listen(socketPath, resolve));
  return {
    requests,
    /** Resolves when at least `n` requests have arrived (rejects after `ms`). */
    waitFor(n, ms = 2000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length < n) return false;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve(requests);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`only ${requests.length} of ${n} requests arrived`));
        }, ms);
        waiters.push(check);
        check();
      });
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

function defaultAnswer(request) {
  if (request.ChooseModel) return { Ok: { ModelChoice: null } };
  return { Ok: { Handled: "noted" } };
}
