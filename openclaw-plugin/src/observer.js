// Fire-and-forget delivery of observation lines over one long-lived connection to msclawd.
// send() never blocks, throws or waits: lines wait in a bounded queue while the connection opens
// (or while too many answers are outstanding) and are dropped and counted when the queue is
// full or msclawd is away. msclawd answers each line once the engine has taken it; the answers
// are counted, and `whenAnswered()` lets a model choice wait until msclawd has taken every report
// sent before it (the turn right after a model's last call must not be chosen without it).
import net from "node:net";

/** Lines written but not yet answered; past this the queue holds them. */
const MAX_UNANSWERED = 64;
/** Choices waiting for the answers at once; past this a choice does not wait (msclawd is stuck). */
const MAX_WAITERS = 64;

export function createObserver({ socketPath, away, queueMax = 256, logger }) {
  const queue = [];
  const stats = { sent: 0, answered: 0, dropped: 0, unanswered: 0 };
  let link = null; // { socket, ready }
  let unanswered = 0;
  let droppedSinceReport = 0;
  const waiters = [];

  /** Nothing queued, nothing unanswered: msclawd has taken every report sent. */
  function idle() {
    return queue.length === 0 && unanswered === 0;
  }

  function wakeIfIdle() {
    if (idle()) for (const wake of waiters.splice(0)) wake();
  }

  function drop(count) {
    stats.dropped += count;
    droppedSinceReport += count;
  }

  function pump() {
    if (!link?.ready) return;
    while (queue.length > 0 && unanswered < MAX_UNANSWERED) {
      link.socket.write(`${queue.shift()}\n`);
      unanswered += 1;
      stats.sent += 1;
    }
  }

  function onAnswers(chunk) {
    let lines = 0;
    for (const char of chunk) if (char === "\n") lines += 1;
    const counted = Math.min(lines, unanswered);
    unanswered -= counted;
    stats.answered += counted;
    pump();
    wakeIfIdle();
  }

  function open() {
    const socket = net.createConnection({ path: socketPath });
    const current = { socket, ready: false };
    link = current;
    socket.unref(); // never keeps the gateway process alive
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      current.ready = true;
      away.markReachable();
      if (droppedSinceReport > 0) {
        logger?.info?.(`msclawd is back; ${droppedSinceReport} model-call reports were dropped meanwhile`);
        droppedSinceReport = 0;
      }
      pump();
    });
    socket.on("data", onAnswers);
    socket.on("error", () => {}); // "close" follows and does the work
    socket.on("close", (hadError) => onClose(current, hadError));
  }

  function onClose(closed, hadError) {
    if (link !== closed) return;
    link = null;
    stats.unanswered += unanswered; // written, fate unknown: not sent again (no double counts)
    unanswered = 0;
    if (closed.ready && !hadError && queue.length > 0) {
      open(); // msclawd closed an idle connection just as new lines came: try once more
      return;
    }
    if (!closed.ready) away.markUnreachable();
    drop(queue.length);
    queue.length = 0;
    wakeIfIdle();
  }

  return {
    /** Queues one line for msclawd; returns at once. */
    send(line) {
      if (!link && away.isUnreachable()) return drop(1);
      if (queue.length >= queueMax) return drop(1);
      queue.push(line);
      if (!link) open();
      else pump();
    },
    stats: () => ({ ...stats, queued: queue.length, inFlight: unanswered }),
    /** Resolves once every report sent so far is answered, or dropped with its connection. */
    whenAnswered() {
      if (idle() || waiters.length >= MAX_WAITERS) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    /** Closes the connection; what is still queued is dropped and counted. */
    close() {
      link?.socket.destroy();
      link = null;
      stats.unanswered += unanswered;
      unanswered = 0;
      drop(queue.length);
      queue.length = 0;
      wakeIfIdle();
    },
  };
}
