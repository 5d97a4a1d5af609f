/**
 * Decompression stages for compressed whole-disk images (beyond IPA): `gzip -dc`, `xz -dc` and
 * `zstd -dc` started by the Runner, fed through their stdin and read from their stdout into one
 * reused buffer. Memory is bounded by the pipe buffers and that buffer, never by the image size.
 *
 * gzip is a tool too rather than the built-in `DecompressionStream`: that stream allocates a new
 * chunk for every output block, and on a 512 MiB image the dead chunks held the agent at 183 MiB
 * peak RSS until V8 collected them (`tests/bench/image_memory_bench.ts`).
 */
import { ImageWriteError } from "../api/errors.ts";
import { type Runner, ToolError } from "../system/run.ts";
import type { ByteSink } from "./byte_sink.ts";
import { chunkReader } from "./chunk_reader.ts";
import type { Compression } from "./format_inspect.ts";

/** Marks a failure of the stage after this one, so it is passed on unchanged. */
class Downstream {
  constructor(readonly error: unknown) {}
}

/**
 * Forwards `readable` into `next`; on failure cancels the readable so its writer fails too.
 * A failure downstream is thrown as `Downstream`, a failure of the decompressor as is.
 */
async function pump(readable: ReadableStream<Uint8Array>, next: ByteSink): Promise<void> {
  // A tool's stdout is a byte stream: one reused buffer instead of a fresh one per chunk.
  const reader = chunkReader(readable);
  try {
    for (;;) {
      const value = await reader.read();
      if (value === null) return;
      try {
        await next.write(value);
      } catch (err) {
        throw new Downstream(err);
      }
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  }
}

/** A stage around a transform whose writable takes compressed bytes. */
class StreamStage implements ByteSink {
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #pumped: Promise<unknown>;
  readonly #next: ByteSink;
  readonly #finish: () => Promise<void>;
  readonly #kill: () => void;
  #failure: unknown = null;

  constructor(
    writable: WritableStream<Uint8Array>,
    readable: ReadableStream<Uint8Array>,
    next: ByteSink,
    hooks: { finish: () => Promise<void>; kill: () => void; wrap: (err: unknown) => Error },
  ) {
    this.#writer = writable.getWriter();
    this.#next = next;
    this.#finish = hooks.finish;
    this.#kill = hooks.kill;
    // Settles with null or the failure, so an early failure is never unobserved.
    this.#pumped = pump(readable, next).then(() => null, (err) => {
      this.#failure = err instanceof Downstream ? err.error : hooks.wrap(err);
      this.#kill();
      return this.#failure;
    });
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure;
    try {
      await this.#writer.ready;
      // No copy: a tool's stdin has written the chunk to the pipe once write() resolves.
      await this.#writer.write(chunk);
    } catch (err) {
      throw this.#failure ?? (await this.#pumped) ?? err;
    }
  }

  async close(): Promise<void> {
    try {
      await this.#writer.close();
    } catch (err) {
      throw this.#failure ?? (await this.#pumped) ?? err;
    }
    const failure = await this.#pumped;
    if (failure) throw failure;
    await this.#finish();
    await this.#next.close();
  }

  async abort(reason: unknown): Promise<void> {
    this.#kill();
    await this.#writer.abort(reason).catch(() => {});
    await this.#next.abort(reason);
  }
}

function decompressError(tool: string, imageId: string, err: unknown): ImageWriteError {
  const reason = err instanceof ToolError
    ? `exit code ${err.exitCode}: ${err.stderr.trim()}`
    : err instanceof Error
    ? err.message
    : String(err);
  return new ImageWriteError(`Decompressing image ${imageId} with ${tool} failed: ${reason}`, {
    cause: err,
  });
}

export interface DecompressOptions {
  runner: Runner;
  imageId: string;
  signal?: AbortSignal;
  /** Kill the decompressor after this long. */
  timeoutMs: number;
}

/** A stage that decompresses `compression` into `next`. */
export function decompressStage(
  compression: Compression,
  next: ByteSink,
  options: DecompressOptions,
): ByteSink {
  const process = options.runner.pipe(compression, ["-dc"], {
    streamStdout: true,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
  });
  const exited: Promise<unknown> = process.done.then(() => null, (err) => err);
  return new StreamStage(process.stdin, process.stdout!, next, {
    finish: async () => {
      const failure = await exited;
      if (failure) throw decompressError(compression, options.imageId, failure);
    },
    kill: () => process.kill(),
    wrap: (err) => decompressError(compression, options.imageId, err),
  });
}
