/**
 * One qcow2 compressed cluster: where its bytes lie in the file (the L2 descriptor) and its
 * decompression into exactly one cluster, with qemu's semantics (docs/interop/qcow2.txt,
 * block/qcow2-threads.c):
 *
 * - descriptor, with x = 62 - (cluster_bits - 8): bits 0..x-1 are the host byte offset (not
 *   aligned), bits x..61 the number of 512-byte sectors used beyond the one holding the offset.
 *   The span therefore ends on a sector boundary and may run into the next compressed cluster,
 *   which can start in the same final sector;
 * - type 0 is a raw deflate stream, type 1 a zstd frame; decompression stops once a whole cluster
 *   is produced, so bytes after the stream (the next cluster's) are ignored, and less than one
 *   cluster of output is corrupt.
 *
 * `ClusterDecompressor` decompresses every cluster into one reused buffer through one zlib/zstd
 * engine of `node:zlib`. Its public one-shot functions allocate a new engine and output buffer
 * per call, which for a multi-GiB image is gigabytes of garbage the GC collects late (+90 MiB of
 * RSS measured); so it drives the engine's handle (`_handle.writeSync`, as Node's own sync
 * functions do) and falls back to the one-shot functions if a runtime lacks that handle. The
 * fallback refuses a stream that decompresses to more than one cluster, which qemu (and the
 * engine path) accept, cut at one cluster.
 */
import { nodeZlib } from "../system/node_builtins.ts";

type Zlib = typeof import("node:zlib");

/** The header's compression_type values. */
export const COMPRESSION_DEFLATE = 0;
export const COMPRESSION_ZSTD = 1;

export interface CompressedSpan {
  /** Host byte offset of the compressed data. */
  start: number;
  /** Bytes from `start` to the end of the last sector the descriptor names. */
  length: number;
}

/** Host offsets must stay below 2^56 (and JavaScript numbers exact). */
const MAX_HOST_OFFSET = 2 ** 53;

/** The host bytes a compressed L2 entry points at (bit 62 set), or null when it is invalid. */
export function compressedSpan(entry: bigint, clusterBits: number): CompressedSpan | null {
  const x = BigInt(62 - (clusterBits - 8));
  const start = Number(entry & ((1n << x) - 1n));
  const sectors = Number((entry >> x) & ((1n << BigInt(clusterBits - 8)) - 1n)) + 1;
  if (start === 0 || start >= MAX_HOST_OFFSET) return null;
  return { start, length: sectors * 512 - (start % 512) };
}

/** The parts of a node:zlib engine that Node's own sync functions use. */
interface Engine {
  _handle?: {
    writeSync?(
      flush: number,
      input: Uint8Array,
      inOffset: number,
      inLength: number,
      output: Uint8Array,
      outOffset: number,
      outLength: number,
    ): void;
    onerror?: (message: string, errno: number) => void;
  };
  /** [output bytes left, input bytes left] after `writeSync`. */
  _writeState?: Uint32Array;
  _finishFlushFlag?: number;
  reset(): void;
  close(): void;
}

export class ClusterDecompressor {
  readonly #zlib: Zlib;
  readonly #type: number;
  readonly #output: Uint8Array;
  readonly #engine: Engine | null;
  #failure: string | null = null;

  /** `reuse: false` uses the one-shot functions (the fallback; for tests). */
  static async create(
    type: number,
    clusterSize: number,
    options: { reuse?: boolean } = {},
  ): Promise<ClusterDecompressor> {
    if (type !== COMPRESSION_DEFLATE && type !== COMPRESSION_ZSTD) {
      throw new RangeError(`Cannot decompress qcow2 clusters: unknown compression type ${type}`);
    }
    return new ClusterDecompressor(await nodeZlib(), type, clusterSize, options.reuse ?? true);
  }

  private constructor(zlib: Zlib, type: number, clusterSize: number, reuse: boolean) {
    this.#zlib = zlib;
    this.#type = type;
    this.#output = new Uint8Array(clusterSize);
    const engine = reuse
      ? (type === COMPRESSION_DEFLATE
        ? zlib.createInflateRaw()
        : zlib.createZstdDecompress()) as unknown as Engine
      : null;
    const usable = typeof engine?._handle?.writeSync === "function" &&
      engine._writeState instanceof Uint32Array && typeof engine._finishFlushFlag === "number";
    this.#engine = usable ? engine : null;
    if (!usable) engine?.close();
    // Errors arrive through this callback during writeSync; the default destroys the stream.
    if (this.#engine) this.#engine._handle!.onerror = (message) => this.#failure = message;
  }

  /**
   * Decompresses `input` (the span of one compressed cluster) into exactly one cluster, in a
   * buffer reused by the next call. Throws an `Error` saying why the data is corrupt.
   */
  decompress(input: Uint8Array): Uint8Array {
    const produced = this.#engine ? this.#decompressInPlace(input) : this.#decompressOnce(input);
    if (produced !== this.#output.length) {
      throw new Error(
        `it decompresses to ${produced} bytes instead of the cluster size of ` +
          `${this.#output.length}`,
      );
    }
    return this.#output;
  }

  /** Frees the engine. */
  close(): void {
    this.#engine?.close();
  }

  #decompressInPlace(input: Uint8Array): number {
    const engine = this.#engine!;
    const output = this.#output;
    this.#failure = null;
    try {
      engine._handle!.writeSync!(
        engine._finishFlushFlag!,
        input,
        0,
        input.length,
        output,
        0,
        output.length,
      );
    } catch (err) {
      this.#failure = err instanceof Error ? err.message : String(err);
    }
    const produced = output.length - engine._writeState![0]!;
    engine.reset();
    if (this.#failure) throw new Error(`it does not decompress: ${this.#failure}`);
    return produced;
  }

  #decompressOnce(input: Uint8Array): number {
    const size = this.#output.length;
    const { constants, inflateRawSync, zstdDecompressSync } = this.#zlib;
    let output: Uint8Array;
    try {
      output = this.#type === COMPRESSION_DEFLATE
        // Sync flush: a stream cut short gives what it has (checked by the caller).
        ? inflateRawSync(input, { maxOutputLength: size, finishFlush: constants.Z_SYNC_FLUSH })
        : zstdDecompressSync(input.subarray(0, zstdFrameLength(input)), {
          maxOutputLength: size,
        });
    } catch (err) {
      if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") {
        throw new Error(`it decompresses to more than the cluster size of ${size} bytes`);
      }
      throw new Error(`it does not decompress: ${err instanceof Error ? err.message : err}`);
    }
    this.#output.set(output);
    return output.length;
  }
}

const ZSTD_MAGIC = 0xfd2fb528;

/**
 * Length of the zstd frame at the start of `bytes`, walking its header and block headers
 * (RFC 8878 §3.1.1): the one-shot decompressor refuses bytes after a frame.
 */
export function zstdFrameLength(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number) => {
    if (end > bytes.length) throw new Error(`zstd frame is truncated at byte ${bytes.length}`);
  };
  need(5);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) throw new Error("no zstd frame magic");
  const descriptor = bytes[4]!;
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const checksum = (descriptor >> 2) & 1;
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
  const contentSizeBytes = [singleSegment, 2, 4, 8][contentSizeFlag]!;
  let offset = 5 + (singleSegment ? 0 : 1) + dictionaryBytes + contentSizeBytes;
  for (;;) {
    need(offset + 3);
    const header = bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16);
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (type === 3) throw new Error(`zstd block at byte ${offset} has the reserved type`);
    offset += 3 + (type === 1 ? 1 : size);
    if (header & 1) break;
  }
  offset += checksum * 4;
  need(offset);
  return offset;
}
