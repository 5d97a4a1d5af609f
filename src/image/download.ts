/**
 * Streaming HTTP(S) GET of an image (spec 08 §4, one attempt): try each URL in order; per URL,
 * connection errors and HTTP ≥ 500 are retried `retries` more times, `retryIntervalMs` apart;
 * any other status than 200 is fatal (`ImageDownloadFatalError`: no retry, no further URL).
 * The body is read with a stall timeout: a read that waits longer than the connection timeout
 * aborts the attempt with `ImageDownloadError`, so the caller's outer loop can start over.
 */
import {
  ImageDownloadError,
  ImageDownloadFatalError,
  ImageDownloadTimeoutError,
} from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { ImageHttp } from "./http_client.ts";
import { abortableSleep, type Sleep } from "./sleep.ts";

export interface DownloadOptions {
  /** Connect timeout, and the longest a body read may wait for data. */
  connectionTimeoutMs: number;
  /** Extra tries per URL after a connection error or HTTP ≥ 500. */
  retries: number;
  retryIntervalMs: number;
  log: Logger;
  signal?: AbortSignal;
  sleep?: Sleep;
  /** `Date.now()`-style clock, for the overall deadline. */
  now?: () => number;
  /** Give up with `ImageDownloadTimeoutError` once this clock time has passed. */
  deadline?: number | null;
  /** Overall limit in seconds, for the deadline message. */
  maxDurationSeconds?: number;
}

/** An opened image response whose body the caller reads with `chunks()`. */
export interface ImageResponse extends AsyncDisposable {
  readonly url: string;
  /** Content-Length, when the server sent one. */
  readonly total: number | null;
  /** The body, chunk by chunk, as the network delivers it; guarded by the stall timeout. */
  chunks(): AsyncGenerator<Uint8Array, void, undefined>;
}

/** Why one URL failed: retryable (connection, ≥ 500) or not. */
class AttemptError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

const BODY_EXCERPT = 500;

async function bodyExcerpt(response: Response): Promise<string> {
  try {
    // One line, so the final error keeps one line per URL.
    const text = (await response.text()).replace(/\s+/g, " ").trim();
    return text.length > BODY_EXCERPT ? `${text.slice(0, BODY_EXCERPT)}...` : text;
  } catch {
    return "";
  }
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (${err.cause.message})` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** One GET with a connect timeout; resolves once the response headers are in. */
async function request(
  http: ImageHttp,
  url: string,
  options: DownloadOptions,
): Promise<{ response: Response; controller: AbortController }> {
  const controller = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([controller.signal, options.signal])
    : controller.signal;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.connectionTimeoutMs);
  try {
    const response = await http.fetch(url, { signal });
    return { response, controller };
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (timedOut) {
      throw new AttemptError(
        `Timed out after ${options.connectionTimeoutMs / 1000} seconds connecting to ${url}`,
        true,
      );
    }
    throw new AttemptError(`Unable to connect to ${url}: ${describeFetchError(err)}`, true);
  } finally {
    clearTimeout(timer);
  }
}

/** One URL with its retries (IPA's `_download_with_proxy`). */
async function openUrl(
  http: ImageHttp,
  url: string,
  options: DownloadOptions,
): Promise<{ response: Response; controller: AbortController }> {
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 0;; attempt++) {
    let failure: AttemptError;
    try {
      const opened = await request(http, url, options);
      const status = opened.response.status;
      if (status === 200) return opened;
      const message =
        `Received status code ${status} from ${url}, expected 200. Response body: ${await bodyExcerpt(
          opened.response,
        )}`;
      failure = new AttemptError(message, status >= 500);
    } catch (err) {
      if (!(err instanceof AttemptError)) throw err;
      failure = err;
    }
    if (!failure.retryable || attempt >= options.retries) throw failure;
    options.log.warn("Unable to download from URL, retrying", {
      url,
      attempt: attempt + 1,
      retries: options.retries,
      error: failure.message,
    });
    await sleep(options.retryIntervalMs, options.signal);
  }
}

/**
 * Opens the image for streaming: the first URL that answers 200 wins. Throws
 * `ImageDownloadFatalError` on an HTTP status below 500, `ImageDownloadError` when every URL
 * failed (one line per URL).
 */
export async function openImage(
  http: ImageHttp,
  urls: readonly string[],
  options: DownloadOptions & { imageId: string },
): Promise<ImageResponse> {
  const now = options.now ?? Date.now;
  const started = now();
  const details: string[] = [];
  for (const url of urls) {
    options.log.info("Attempting to download image", { url });
    try {
      const { response, controller } = await openUrl(http, url, options);
      return imageResponse(url, response, controller, options);
    } catch (err) {
      if (!(err instanceof AttemptError)) throw err;
      const line = `URL: ${url}; time: ${((now() - started) / 1000).toFixed(1)} seconds. ` +
        `Error: ${err.message}`;
      if (!err.retryable) {
        throw new ImageDownloadFatalError(`Download of image ${options.imageId} failed: ${line}`);
      }
      options.log.warn("Image download from URL failed", { url, error: err.message });
      details.push(line);
    }
  }
  throw new ImageDownloadError(
    `Download of image ${options.imageId} failed: ${details.join("\n ")}`,
  );
}

function imageResponse(
  url: string,
  response: Response,
  controller: AbortController,
  options: DownloadOptions & { imageId: string },
): ImageResponse {
  const length = Number(response.headers.get("content-length"));
  const body = response.body;
  const now = options.now ?? Date.now;
  const timeoutMs = options.connectionTimeoutMs;
  return {
    url,
    total: response.headers.has("content-length") && Number.isFinite(length) ? length : null,
    async *chunks() {
      if (!body) return;
      const reader = body.getReader();
      try {
        for (;;) {
          if (options.deadline != null && now() > options.deadline) {
            throw new ImageDownloadTimeoutError(
              `Download of image ${options.imageId} exceeded the maximum duration of ` +
                `${options.maxDurationSeconds ?? "?"} seconds`,
            );
          }
          let stalled = false;
          const timer = setTimeout(() => {
            stalled = true;
            controller.abort();
          }, timeoutMs);
          let result: ReadableStreamReadResult<Uint8Array>;
          try {
            result = await reader.read();
          } catch (err) {
            if (options.signal?.aborted) throw options.signal.reason;
            if (stalled) {
              throw new ImageDownloadError(
                `Download of image ${options.imageId} failed: Timed out reading next chunk ` +
                  `from ${url}: no data for ${timeoutMs / 1000} seconds`,
              );
            }
            throw new ImageDownloadError(
              `Download of image ${options.imageId} failed: error reading from ${url}: ${
                describeFetchError(err)
              }`,
            );
          } finally {
            clearTimeout(timer);
          }
          if (result.done) return;
          yield result.value;
        }
      } finally {
        reader.releaseLock();
      }
    },
    async [Symbol.asyncDispose]() {
      controller.abort();
      try {
        await body?.cancel();
      } catch {
        // Already aborted or fully read.
      }
    },
  };
}

/**
 * GET a small text resource (a checksum file) with the same retries; a failure is an
 * `ImageDownloadError` naming the URL.
 */
export async function fetchText(
  http: ImageHttp,
  url: string,
  options: DownloadOptions,
): Promise<string> {
  try {
    const { response, controller } = await openUrl(http, url, options);
    const timer = setTimeout(() => controller.abort(), options.connectionTimeoutMs);
    try {
      return await response.text();
    } finally {
      clearTimeout(timer);
    }
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (err instanceof AttemptError && !err.retryable) {
      throw new ImageDownloadFatalError(`Download of image ${url} failed: ${err.message}`);
    }
    throw new ImageDownloadError(`Download of image ${url} failed: ${describeFetchError(err)}`);
  }
}
