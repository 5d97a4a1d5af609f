/** Waiting between download attempts; injectable so tests do not wait real seconds. */

/** Resolves after `ms`, or rejects with the signal's reason once `signal` aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
