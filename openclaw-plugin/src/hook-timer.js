// The plugin's own time inside each hook call, on the monotonic clock, written as a debug line to
// OpenClaw's log (the plugin logger): the bound "a turn never waits on msclaw's plugin more than
// 50 ms" can then be read in a real gateway's log, even with msclawd gone. Debug, because a line per
// model call is noise at OpenClaw's default `info` level (`OPENCLAW_LOG_LEVEL=debug` shows them).

/** The start of each timing line; tests/tests/real_openclaw/plugin.rs finds the lines by it. */
export const HOOK_TIME_PREFIX = "msclaw: hook";

/** `msclaw: hook <name> took <ms> ms` with three decimals. */
export function hookTimeLine(name, ms) {
  return `${HOOK_TIME_PREFIX} ${name} took ${ms.toFixed(3)} ms`;
}

function report(logger, name, started) {
  logger?.debug?.(hookTimeLine(name, performance.now() - started));
}

/** Wraps a synchronous handler: same arguments, same result, its duration logged. */
export function timedSync(name, handler, logger) {
  return (...args) => {
    const started = performance.now();
    try {
      return handler(...args);
    } finally {
      report(logger, name, started);
    }
  };
}

/** Wraps an async handler: its duration until the promise settles is logged. */
export function timedAsync(name, handler, logger) {
  return async (...args) => {
    const started = performance.now();
    try {
      return await handler(...args);
    } finally {
      report(logger, name, started);
    }
  };
}
