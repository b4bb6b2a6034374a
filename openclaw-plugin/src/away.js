// What the plugin remembers about msclawd failing, so a turn without msclawd pays one failed
// attempt a second at most, not one each. Two kinds: unreachable (no socket, refused) stops both
// the choice and new connections for reports; slow (connected, no answer in time) stops only
// the choice, since a late answer costs a report nothing.

export function createAwayMemory({ awayMs = 1000, now = () => performance.now() } = {}) {
  let unreachableUntil = -Infinity;
  let slowUntil = -Infinity;
  return {
    /** No point connecting now. */
    isUnreachable: () => now() < unreachableUntil,
    /** No point asking for a model choice now. */
    skipChoice: () => now() < unreachableUntil || now() < slowUntil,
    markUnreachable: () => {
      unreachableUntil = now() + awayMs;
    },
    markSlow: () => {
      slowUntil = now() + awayMs;
    },
    /** A connection was accepted. */
    markReachable: () => {
      unreachableUntil = -Infinity;
    },
  };
}
