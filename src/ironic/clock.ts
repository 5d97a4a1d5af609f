/**
 * Time as the lookup and heartbeat loops see it, injected so tests run them on a fake clock
 * without waiting real seconds.
 */

export interface Clock {
  /** Monotonic time in milliseconds. */
  now(): number;
  /** Resolves after `ms` milliseconds, or at once when `signal` is aborted. Never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Sleeps on a real timer; resolves early (and clears the timer) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => performance.now(),
  sleep,
};

/** A number drawn uniformly from `[low, high]` using `random` in `[0, 1)`. */
export function uniform(random: () => number, low: number, high: number): number {
  return low + random() * (high - low);
}
