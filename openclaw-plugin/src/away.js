// "msclawd is away": after a failed connect or a missed answer, nobody tries again for a while,
// so a turn without msclawd pays one failed attempt a second at most, not one each.

export function createAwayMemory({ awayMs = 1000, now = () => performance.now() } = {}) {
  let until = -Infinity;
  return {
    isAway: () => now() < until,
    mark: () => {
      until = now() + awayMs;
    },
    clear: () => {
      until = -Infinity;
    },
  };
}
