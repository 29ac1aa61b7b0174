/** A clock that only moves when a test moves it, for deterministic task lifecycles and rate limits. */

/** A manually driven time source. Pass `clock.now` as the simulator's `clock`. */
export interface ManualClock {
  /** Current time (epoch ms); a bound function, safe to pass around. */
  readonly now: () => number;
  /** Moves time forward by `ms`. */
  advance(ms: number): number;
  /** Sets the time. */
  set(ms: number): void;
}

/** Creates a {@link ManualClock} starting at `start` (default 2025-01-15T10:00:00Z). */
export function createManualClock(start = Date.UTC(2025, 0, 15, 10, 0, 0)): ManualClock {
  let current = start;
  return {
    now: () => current,
    advance(ms: number) {
      current += ms;
      return current;
    },
    set(ms: number) {
      current = ms;
    },
  };
}
