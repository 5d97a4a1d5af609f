/**
 * Streaming a raw image straight onto a block device (spec 08 §2 "stream download into
 * target", §4, §5): HTTP body → hash → `dd` on the device, with the outer retry loop restarting
 * the write from the start of the device.
 *
 * Deno will not open anything under /dev without `--allow-all`, so the device is written by
 * `dd` started through the Runner; the body is streamed into its stdin. `oflag=direct` keeps the
 * image out of the page cache (the ramdisk's RAM), `iflag=fullblock` keeps direct writes aligned
 * (GNU dd drops O_DIRECT for a short final block), and `conv=fsync` makes dd flush the device
 * before it exits, so success is only reported once the data is on the device. `bs=4M`: dd
 * alternates between filling a block from the 64 KiB pipe and one synchronous direct write, and
 * fewer, larger writes let the agent read and hash ahead meanwhile (measured: 4M beat 1M, 8M and
 * 16M on a 512 MiB raw write).
 *
 * Never reports success for a partial write: a download error, a checksum mismatch or a `dd`
 * failure is an error, whatever `dd` already wrote.
 */
import { ImageChecksumError, ImageWriteError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { type PipedProcess, type Runner, ToolError } from "../system/run.ts";
import type { ByteSink } from "./byte_sink.ts";
import { DeferredSink } from "./deferred_sink.ts";
import { createImagePipeline, type FoundImage } from "./image_pipeline.ts";
import { withAttempts } from "./attempts.ts";
import {
  createHasher,
  digestsMatch,
  type ExpectedChecksum,
  type HashAlgorithm,
  resolveChecksum,
} from "./checksum.ts";
import { DigestingWriter, OutputWriteError } from "./digesting_writer.ts";
import { type DownloadOptions, fetchText, openImage } from "./download.ts";
import {
  createImageHttp,
  type ImageHttp,
  type ServerAuthOptions,
  type TlsOptions,
} from "./http_client.ts";
import type { ImageInfo } from "./image_info.ts";
import { describe, type Progress, ProgressMeter } from "./progress.ts";
import { abortableSleep, type Sleep } from "./sleep.ts";

export interface ImageDownloadSettings {
  /** `image_download_connection_timeout`, in ms: connect timeout and longest stalled read. */
  connectionTimeoutMs: number;
  /** `image_download_connection_retries`: per-URL retries and extra whole attempts. */
  retries: number;
  /** `image_download_connection_retry_interval`, in ms. */
  retryIntervalMs: number;
  /** `md5_enabled`: whether a 32-character digest may be checked as MD5. */
  md5Enabled: boolean;
  /** `image_download_max_duration`, in ms; 0 or absent = no limit. */
  maxDurationMs?: number;
  /** Outbound TLS (`cafile`, `certfile`/`keyfile` contents). */
  tls?: TlsOptions;
  /** The agent's own `image_server_auth_strategy` and credentials. */
  serverAuth?: ServerAuthOptions;
  /** Kill `dd` after this long (default 24 h); a stalled download is caught earlier. */
  writeTimeoutMs?: number;
  /** Injected for tests. */
  sleep?: Sleep;
}

export interface StreamImageOptions {
  imageInfo: ImageInfo;
  /** Absolute path of the block device (or partition) to write. */
  device: string;
  runner: Runner;
  log: Logger;
  options: ImageDownloadSettings;
  signal?: AbortSignal;
  /** Progress, at most once a second while data flows, and once when the write is done. */
  onProgress?: (progress: Progress) => void;
  /** Size of `device` in bytes, so a qcow2 image too large for it is refused before writing. */
  deviceBytes?: number | null;
  /** Permitted formats and whether deep inspection is on (default: raw, gpt, qcow2; on). */
  formats?: { permitted: readonly string[]; deep: boolean };
  /**
   * Partition images: called once the image has passed inspection, before anything is written,
   * with the size of the content when it is known (qcow2 virtual size, or the length of an
   * uncompressed raw download); it may refuse the image, lays out the disk and resolves to the
   * partition to write instead of `device`.
   */
  prepareTarget?: (found: { format: string; bytes: number | null }) => Promise<string>;
}

export interface StreamImageResult {
  bytesWritten: number;
  algorithm: HashAlgorithm;
  /** The verified hex digest of the image. */
  digest: string;
  /** Duration of the successful attempt. */
  seconds: number;
  /** The URL the image came from. */
  url: string;
  /** How many whole attempts it took. */
  attempts: number;
  /** The detected content format (raw, gpt, iso, qcow2) and compression, if any. */
  format: string | null;
  compression: string | null;
}

/** Formats permitted when the caller does not say (the agent's own default). */
const DEFAULT_FORMATS = { permitted: ["raw", "gpt", "qcow2"], deep: true };

/** dd refused a write: it exited early. */
class DeviceWriteError extends Error {}

/** The device end of the pipeline: dd's stdin. */
function deviceSink(proc: PipedProcess): ByteSink {
  const writer = proc.stdin.getWriter();
  return {
    async write(chunk) {
      try {
        await writer.write(chunk);
      } catch (err) {
        throw new DeviceWriteError(String(err), { cause: err });
      }
    },
    async close() {
      try {
        await writer.close();
      } catch (err) {
        throw new DeviceWriteError(String(err), { cause: err });
      }
    },
    async abort() {
      proc.kill();
      await writer.abort().catch(() => {});
    },
  };
}

/** `dd` arguments for a streamed device write. */
export function ddArguments(device: string): string[] {
  return [`of=${device}`, "bs=4M", "iflag=fullblock", "oflag=direct", "conv=fsync", "status=none"];
}

/** IPA's `ImageWriteError` wording. */
function writeError(device: string, failure: unknown): ImageWriteError {
  if (failure instanceof ToolError) {
    return new ImageWriteError(
      `Writing image to device ${device} failed with exit code ${failure.exitCode}. ` +
        `stdout: ${failure.stdout.trim()}. stderr: ${failure.stderr.trim()}`,
      { cause: failure },
    );
  }
  const reason = failure instanceof Error ? failure.message : String(failure);
  return new ImageWriteError(`Writing image to device ${device} failed: ${reason}`, {
    cause: failure,
  });
}

function checksumError(
  info: ImageInfo,
  device: string,
  expected: ExpectedChecksum,
  actual: string,
): ImageChecksumError {
  return new ImageChecksumError(
    `Image failed to verify against checksum. location: ${device}; image ID: ${info.id}; ` +
      `image checksum: ${expected.value}; verification checksum: ${actual}; ` +
      `algorithm: ${expected.algorithm}; expected value from: ${expected.source}`,
  );
}

interface AttemptContext {
  stream: StreamImageOptions;
  http: ImageHttp;
  download: DownloadOptions;
}

/** Waits for dd's exit (`null` = success), killing it if it does not exit within `graceMs`. */
async function ddOutcome(
  outcome: Promise<unknown>,
  kill: () => void,
  graceMs: number,
): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), graceMs);
  });
  const first = await Promise.race([outcome, grace]);
  clearTimeout(timer);
  if (first !== "late") return first;
  kill();
  return await outcome;
}

/** One whole attempt: checksum, download, write, verify. */
async function attemptWrite(context: AttemptContext, attempt: number): Promise<StreamImageResult> {
  const { stream, http, download } = context;
  const { imageInfo: info, log } = stream;
  // The partition actually written, once `prepareTarget` has chosen it.
  let device = stream.device;
  const settings = stream.options;
  const expected = await resolveChecksum(info, {
    md5Enabled: settings.md5Enabled,
    log,
    fetchText: (url) => fetchText(http, url, download),
  });
  await using image = await openImage(http, info.urls, { ...download, imageId: info.id });
  log.info("Streaming image to device", {
    image: info.id,
    device,
    url: image.url,
    bytes: image.total ?? undefined,
    algorithm: expected.algorithm,
    attempt,
  });
  const meter = new ProgressMeter({ total: image.total, log, onProgress: stream.onProgress });
  let dd: PipedProcess | null = null;
  // Settles with null on success or the ToolError; never rejects, so no failure goes unobserved.
  let outcome: Promise<unknown> = Promise.resolve(null);
  const formats = stream.formats ?? DEFAULT_FORMATS;
  const { sink: pipeline, choice } = createImagePipeline({
    imageId: info.id,
    declared: info.disk_format,
    permitted: formats.permitted,
    deep: formats.deep,
    deviceBytes: stream.deviceBytes ?? null,
    runner: stream.runner,
    log,
    signal: stream.signal,
    timeoutMs: settings.writeTimeoutMs ?? 24 * 60 * 60 * 1000,
    // Only called once the image has passed inspection: a refused image writes nothing.
    openDevice: (found: FoundImage) => {
      const start = (target: string) => {
        device = target;
        const proc = stream.runner.pipe("dd", ddArguments(target), {
          timeoutMs: settings.writeTimeoutMs ?? 24 * 60 * 60 * 1000,
          signal: stream.signal,
        });
        dd = proc;
        outcome = proc.done.then(() => null, (err) => err);
        return deviceSink(proc);
      };
      const prepare = stream.prepareTarget;
      if (!prepare) return start(device);
      // A compressed download's length says nothing about the content's size.
      const bytes = found.virtualSize ?? (found.compression ? null : image.total);
      return new DeferredSink(async () => start(await prepare({ format: found.format, bytes })));
    },
  });
  const output = new WritableStream<Uint8Array>({
    write: (chunk) => pipeline.write(chunk),
    close: () => pipeline.close(),
  }).getWriter();
  using sink = new DigestingWriter(output, { hash: await createHasher(expected.algorithm) });
  let downloaded = 0;
  let digest: string;
  try {
    for await (const chunk of image.chunks()) {
      downloaded += chunk.length;
      await sink.write(chunk);
      meter.update(downloaded, sink.written);
    }
    digest = await sink.finish();
    try {
      await output.close();
    } catch (err) {
      throw new OutputWriteError(err);
    }
  } catch (err) {
    const cause = err instanceof OutputWriteError ? err.cause : err;
    const proc = dd as PipedProcess | null;
    if (cause instanceof DeviceWriteError && proc) {
      // dd closed its stdin: it has exited or is about to; its stderr says why.
      throw writeError(device, (await ddOutcome(outcome, () => proc.kill(), 10_000)) ?? cause);
    }
    // The download or a decoding stage failed: stop dd before it sees end-of-input and exits
    // 0 on a partial image.
    await pipeline.abort(cause).catch(() => {});
    proc?.kill();
    await outcome;
    throw cause;
  }
  const failure = await outcome;
  if (failure) throw writeError(device, failure);
  if (!dd) throw new ImageWriteError(`Writing image ${info.id} to ${device}: nothing was written`);
  const done = meter.complete(downloaded, sink.written);
  if (!digestsMatch(expected.value, digest)) {
    throw checksumError(info, device, expected, digest);
  }
  log.info("Image written to device", {
    image: info.id,
    device,
    format: choice.format ?? undefined,
    compression: choice.compression ?? undefined,
    algorithm: expected.algorithm,
    digest,
    seconds: Math.round(meter.seconds * 10) / 10,
    ...describe(done),
  });
  return {
    bytesWritten: downloaded,
    algorithm: expected.algorithm,
    digest,
    seconds: meter.seconds,
    url: image.url,
    attempts: attempt,
    format: choice.format,
    compression: choice.compression,
  };
}

/**
 * Downloads `imageInfo` and writes it to `device` (whole disk or partition), verifying its
 * checksum, with the retries of spec 08 §4. Throws `ImageDownloadError` (and its fatal,
 * out-of-space subclasses), `ImageDownloadTimeoutError`, `ImageChecksumError` or
 * `ImageWriteError`; on any throw the device content is undefined.
 */
export async function streamImageToDevice(options: StreamImageOptions): Promise<StreamImageResult> {
  if (!options.device.startsWith("/")) {
    throw new TypeError(`Cannot write image: device "${options.device}" is not an absolute path`);
  }
  const settings = options.options;
  const log = options.log.with({ image: options.imageInfo.id, device: options.device });
  const maxDurationMs = settings.maxDurationMs ?? 0;
  const download: DownloadOptions = {
    connectionTimeoutMs: settings.connectionTimeoutMs,
    retries: settings.retries,
    retryIntervalMs: settings.retryIntervalMs,
    log,
    signal: options.signal,
    sleep: settings.sleep ?? abortableSleep,
    deadline: maxDurationMs > 0 ? Date.now() + maxDurationMs : null,
    maxDurationSeconds: maxDurationMs / 1000,
  };
  using http = createImageHttp(options.imageInfo, {
    tls: settings.tls,
    serverAuth: settings.serverAuth,
  });
  const context: AttemptContext = { stream: { ...options, log }, http, download };
  return await withAttempts((n) => attemptWrite(context, n), {
    retries: settings.retries,
    retryIntervalMs: settings.retryIntervalMs,
    log,
    signal: options.signal,
    sleep: download.sleep,
  });
}
