/**
 * Streaming HTTP(S) GET of an image (spec 08 §4, one attempt): try each URL in order; per URL,
 * connection errors and HTTP ≥ 500 are retried `retries` more times, `retryIntervalMs` apart;
 * any other status than 200 is fatal (`ImageDownloadFatalError`: no retry, no further URL).
 * The body is read with a stall timeout: a read that waits longer than the connection timeout
 * aborts the attempt with `ImageDownloadError`, so the caller's outer loop can start over.
 *
 * Resume (beyond IPA, which restarts from zero): when the body breaks off (connection dropped,
 * stalled, or shorter than Content-Length) and the server advertised `Accept-Ranges: bytes`,
 * the same URL is asked for the rest with `Range: bytes=<received>-` (and `If-Range` with the
 * first response's strong ETag or Last-Modified, so a file changed meanwhile is not spliced).
 * Only a 206 whose Content-Range starts at the next byte and has the same total is continued;
 * the caller sees one uninterrupted byte stream, so its checksum still covers every byte. Any
 * other answer ends the attempt with the original error and the outer loop restarts from zero.
 */
import {
  ImageDownloadError,
  ImageDownloadFatalError,
  ImageDownloadTimeoutError,
} from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { chunkReader } from "./chunk_reader.ts";
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
  /**
   * The body, chunk by chunk, as the network delivers it; guarded by the stall timeout. A chunk
   * is only valid until the next one is requested (one buffer is reused, `chunk_reader.ts`).
   */
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
  headers?: Record<string, string>,
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
    const response = await http.fetch(url, { signal, ...(headers ? { headers } : {}) });
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
      return imageResponse(http, url, { response, controller }, options);
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

/** The validator for `If-Range`: a strong ETag, else Last-Modified, else null. */
function rangeValidator(headers: Headers): string | null {
  const etag = headers.get("etag");
  if (etag && !etag.startsWith("W/")) return etag;
  return headers.get("last-modified");
}

/** Parses `Content-Range: bytes <start>-<end>/<total|*>`. */
export function parseContentRange(
  value: string | null,
): { start: number; end: number; total: number | null } | null {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? "");
  if (!match) return null;
  return {
    start: Number(match[1]),
    end: Number(match[2]),
    total: match[3] === "*" ? null : Number(match[3]),
  };
}

/**
 * Calls `onStall` once a read has waited `timeoutMs` for data. One timer serves every read (it is
 * re-armed only when it fires), instead of a new timer per network chunk: a 512 MiB body arrives
 * in about 8,000 chunks, and a timer each cost ~7 µs of the agent's main thread per chunk.
 * Only time spent waiting in a read counts, not the time the caller takes between reads (a slow
 * device holding the data back is not a stalled download).
 */
export function stallWatchdog(
  timeoutMs: number,
  onStall: () => void,
  now: () => number = () => performance.now(),
): { start(): void; stop(): void; readonly stalled: boolean; dispose(): void } {
  let since: number | null = null;
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    timer = undefined;
    if (since === null) return;
    const waited = now() - since;
    if (waited >= timeoutMs) {
      stalled = true;
      onStall();
    } else {
      timer = setTimeout(check, timeoutMs - waited);
    }
  };
  return {
    start() {
      since = now();
      timer ??= setTimeout(check, timeoutMs);
    },
    stop() {
      since = null;
    },
    get stalled() {
      return stalled;
    },
    dispose() {
      since = null;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

function imageResponse(
  http: ImageHttp,
  url: string,
  first: { response: Response; controller: AbortController },
  options: DownloadOptions & { imageId: string },
): ImageResponse {
  const headers = first.response.headers;
  const length = Number(headers.get("content-length"));
  const total = headers.has("content-length") && Number.isFinite(length) ? length : null;
  const resumable = /\bbytes\b/i.test(headers.get("accept-ranges") ?? "");
  const validator = rangeValidator(headers);
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? abortableSleep;
  const timeoutMs = options.connectionTimeoutMs;
  // The response being read; replaced by each resumed (206) response.
  let current = first;

  /** Asks for the rest from byte `received`; null when the server will not continue there. */
  async function resume(received: number): Promise<typeof first | null> {
    const rangeHeaders: Record<string, string> = { range: `bytes=${received}-` };
    if (validator) rangeHeaders["if-range"] = validator;
    let opened: typeof first;
    try {
      opened = await request(http, url, options, rangeHeaders);
    } catch (err) {
      if (!(err instanceof AttemptError)) throw err;
      options.log.warn("Could not reconnect to resume the image download", {
        url,
        error: err.message,
      });
      return null;
    }
    const range = parseContentRange(opened.response.headers.get("content-range"));
    if (
      opened.response.status === 206 && range !== null && range.start === received &&
      (total === null || range.total === null || range.total === total)
    ) {
      return opened;
    }
    options.log.warn("The server did not resume the image download; restarting from zero", {
      url,
      status: opened.response.status,
      content_range: opened.response.headers.get("content-range") ?? undefined,
    });
    opened.controller.abort();
    await opened.response.body?.cancel().catch(() => {});
    return null;
  }

  /** Reads one response's body; throws `ImageDownloadError` when it breaks off. */
  async function* read(
    opened: typeof first,
    received: () => number,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const body = opened.response.body;
    if (!body) return;
    const reader = chunkReader(body);
    const watchdog = stallWatchdog(timeoutMs, () => opened.controller.abort());
    try {
      for (;;) {
        if (options.deadline != null && now() > options.deadline) {
          throw new ImageDownloadTimeoutError(
            `Download of image ${options.imageId} exceeded the maximum duration of ` +
              `${options.maxDurationSeconds ?? "?"} seconds`,
          );
        }
        let chunk: Uint8Array | null;
        watchdog.start();
        try {
          chunk = await reader.read();
        } catch (err) {
          if (options.signal?.aborted) throw options.signal.reason;
          if (watchdog.stalled) {
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
          watchdog.stop();
        }
        if (chunk === null) {
          if (total !== null && received() < total) {
            throw new ImageDownloadError(
              `Download of image ${options.imageId} failed: the body from ${url} ended after ` +
                `${received()} of ${total} bytes`,
            );
          }
          return;
        }
        yield chunk;
      }
    } finally {
      watchdog.dispose();
      reader.releaseLock();
    }
  }

  return {
    url,
    total,
    async *chunks() {
      let received = 0;
      let resumes = 0;
      for (;;) {
        try {
          for await (const chunk of read(current, () => received)) {
            received += chunk.length;
            yield chunk;
          }
          return;
        } catch (err) {
          const canResume = err instanceof ImageDownloadError && resumable && received > 0 &&
            resumes < options.retries && !options.signal?.aborted;
          if (!canResume) throw err;
          resumes++;
          options.log.warn("Image download broke off; resuming with an HTTP Range request", {
            url,
            received,
            total: total ?? undefined,
            resume: resumes,
            error: err.message,
          });
          current.controller.abort();
          await sleep(options.retryIntervalMs, options.signal);
          const next = await resume(received);
          if (!next) throw err;
          current = next;
        }
      }
    },
    async [Symbol.asyncDispose]() {
      current.controller.abort();
      try {
        await current.response.body?.cancel();
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
