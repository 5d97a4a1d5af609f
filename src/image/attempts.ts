/**
 * The outer download loop (spec 08 §4): the whole procedure (checksum, download, write) is run
 * up to `retries + 1` times when it fails with `ImageDownloadError` or `ImageChecksumError`.
 * Fatal download errors (HTTP 4xx), out-of-space, a checksum that cannot be used at all, the
 * overall timeout and write errors end it at once.
 */
import {
  ImageChecksumError,
  ImageDownloadError,
  ImageDownloadFatalError,
  ImageDownloadOutofSpaceError,
} from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { UnusableChecksumError } from "./checksum.ts";
import { abortableSleep, type Sleep } from "./sleep.ts";

export interface AttemptOptions {
  /** Extra attempts after the first (`image_download_connection_retries`). */
  retries: number;
  retryIntervalMs: number;
  log: Logger;
  signal?: AbortSignal;
  sleep?: Sleep;
}

/** Whether starting the whole download again could succeed. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ImageDownloadFatalError || err instanceof ImageDownloadOutofSpaceError) {
    return false;
  }
  if (err instanceof UnusableChecksumError) return false;
  return err instanceof ImageDownloadError || err instanceof ImageChecksumError;
}

/** Runs `attempt(n)` (n from 1) until it succeeds or fails in a way a retry cannot fix. */
export async function withAttempts<T>(
  attempt: (n: number) => Promise<T>,
  options: AttemptOptions,
): Promise<T> {
  const sleep = options.sleep ?? abortableSleep;
  const total = options.retries + 1;
  for (let n = 1;; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (options.signal?.aborted || !isRetryable(err) || n >= total) throw err;
      options.log.warn("Image download attempt failed, starting again", {
        attempt: n,
        attempts: total,
        error: err instanceof Error ? err.message : String(err),
      });
      await sleep(options.retryIntervalMs, options.signal);
    }
  }
}
