/**
 * Decodes a qcow2 image on the download stream into the raw disk content, written strictly in
 * order (holes as zeros, like `qemu-img convert -S 0`), so one sequential `dd` writes the device
 * and nothing is staged in RAM or tmpfs.
 *
 * The reader walks the file once, in host order. The header says where the L1 table is; the L1
 * table says where the L2 tables are; each L2 table says which guest offset every later data
 * cluster belongs to. Only the tables whose data has not streamed past yet are held (one 64 KiB
 * L2 table maps 512 MiB of guest data), so memory does not grow with the image size for images
 * laid out as `qemu-img convert` writes them: tables before their data, data in guest order.
 *
 * Compressed clusters (`qemu-img convert -c`, deflate or zstd) are collected one at a time and
 * decompressed into one cluster. qemu packs them byte by byte into a host cluster it fills over
 * time, so the layout bends the rules above, in bounded ways:
 * - a compressed cluster may begin in the final sector of the previous one, and one may lie
 *   before the L2 table that maps it: `LookBack` keeps the bytes to read them again;
 * - a compressed cluster may come before uncompressed clusters of lower guest offsets (placed
 *   later, in whole clusters): its compressed bytes wait, up to `max(4 clusters, 1 MiB)` in all,
 *   until the output reaches it.
 * An image laid out otherwise (data far before its table, uncompressed data out of guest order)
 * is refused with `InvalidImage` naming the offset; a cluster that does not decompress fails
 * with `ImageWriteError`. Either way the write is incomplete and reported as failed.
 */
import { ImageWriteError, InvalidImage } from "../api/errors.ts";
import { type ByteSink, writeZeros } from "./byte_sink.ts";
import { parseQcow2Header, QCOW2_EXTERNAL_DATA_FILE, type Qcow2Header } from "./format_inspect.ts";
import {
  ClusterDecompressor,
  compressedSpan,
  COMPRESSION_DEFLATE,
  COMPRESSION_ZSTD,
} from "./qcow2_compressed.ts";
import { LookBack } from "./qcow2_lookback.ts";

/** Bits 9–55 of an L1/L2 entry: the host offset. */
const OFFSET_MASK = 0x00fffffffffffe00n;
const COMPRESSED = 1n << 62n;
const ZERO_FLAG = 1n;
/** Incompatible features the decoder reads correctly: dirty, corrupt, compression type. */
const DECODABLE_FEATURES = 0x1n | 0x2n | 0x8n;
const COMPRESSION_TYPE_FEATURE = 0x8n;
/** qemu's own limit on the L1 table. */
const MAX_L1_BYTES = 32 * 1024 * 1024;
const HEADER_BYTES = 112;
/** Compressed bytes that may wait for the output to reach them: at least this, or 4 clusters. */
const MIN_WAITING_BYTES = 1024 * 1024;
const EMPTY = new Uint8Array(0);

type Compressed = {
  kind: "compressed";
  start: number;
  length: number;
  guest: number;
  /** Its compressed bytes, while it waits for the output to reach `guest`. */
  waiting?: Uint8Array;
};
type Data = { kind: "data"; start: number; length: number; guest: number };
type Extent =
  | { kind: "header"; start: number; length: number }
  | { kind: "l1"; start: number; length: number }
  | { kind: "l2"; start: number; length: number; guest: number }
  | Data
  | Compressed;

export class Qcow2StreamDecoder implements ByteSink {
  readonly #next: ByteSink;
  readonly #id: string;
  #header: Qcow2Header | null = null;
  #clusterSize = 0;
  /** Extents not read yet, sorted by host offset; `#first` is the one being read. */
  #pending: Extent[] = [{ kind: "header", start: 0, length: HEADER_BYTES }];
  #first = 0;
  /** Bytes of `#pending[#first]` read so far. */
  #done = 0;
  /** Clusters not written yet, sorted by guest offset; `#head` is the next one to write. */
  #queue: (Data | Compressed)[] = [];
  #head = 0;
  /** Bytes of the table extent being collected. */
  #table: Uint8Array | null = null;
  /** Bytes of the compressed cluster being collected (two clusters: the largest span). */
  #compressed = EMPTY;
  #waitingBytes = 0;
  #maxWaitingBytes = 0;
  #lookBack: LookBack | null = null;
  #decompressor: ClusterDecompressor | null = null;
  /** Host offset of the next input byte; guest offset of the next output byte. */
  #host = 0;
  #guest = 0;

  constructor(next: ByteSink, options: { imageId: string }) {
    this.#next = next;
    this.#id = options.imageId;
  }

  /** The virtual size, once the header has been read. */
  get virtualSize(): number | null {
    return this.#header?.virtualSize ?? null;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#pump(chunk);
  }

  async close(): Promise<void> {
    // The last compressed cluster's final sector may lie past the end of the file: qemu only
    // writes the bytes it uses. Decompress what arrived (a short stream fails the size check).
    for (;;) {
      const cut = this.#pending[this.#first];
      if (cut?.kind !== "compressed" || cut.start >= this.#host) break;
      if (cut.start + cut.length <= this.#host) break;
      cut.length = this.#host - cut.start;
      await this.#pump(EMPTY);
    }
    const missing = this.#pending[this.#first] ?? this.#queue[this.#head];
    if (missing) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} ended at byte ${this.#host}, before its ${missing.kind} ` +
          `at host offset ${missing.start}`,
      );
    }
    this.#decompressor?.close();
    const size = this.#header?.virtualSize ?? 0;
    await writeZeros(this.#next, size - this.#guest);
    this.#guest = size;
    await this.#next.close();
  }

  async abort(reason: unknown): Promise<void> {
    this.#decompressor?.close();
    await this.#next.abort(reason);
  }

  /** Feeds `chunk` (at host offset `#host`), and held bytes that extents behind it need. */
  async #pump(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    for (;;) {
      const extent = this.#pending[this.#first];
      if (extent && this.#done === extent.length) {
        await this.#complete(extent);
        continue;
      }
      if (extent && extent.start + this.#done < this.#host) {
        const at = extent.start + this.#done;
        await this.#consume(extent, this.#recall(at, extent.start + extent.length - at));
        continue;
      }
      if (offset === chunk.length) return;
      const inside = extent !== undefined && this.#host >= extent.start;
      const end = !extent ? Infinity : inside ? extent.start + extent.length : extent.start;
      const piece = chunk.subarray(
        offset,
        offset + Math.min(end - this.#host, chunk.length - offset),
      );
      offset += piece.length;
      this.#host += piece.length;
      this.#lookBack?.retain(piece);
      if (inside) await this.#consume(extent, piece);
    }
  }

  /** Held bytes from host offset `at`, up to `length` and the stream position. */
  #recall(at: number, length: number): Uint8Array {
    const bytes = this.#lookBack?.recall(at, Math.min(length, this.#host - at));
    if (!bytes) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} needs host offset ${at} again after reading to byte ` +
          `${this.#host}, and no longer holds it: only images laid out as qemu-img convert ` +
          "writes them can be streamed",
      );
    }
    return bytes;
  }

  async #consume(extent: Extent, piece: Uint8Array): Promise<void> {
    if (extent.kind === "data") {
      if (this.#done === 0) await this.#startData(extent);
      await this.#next.write(piece);
      this.#guest += piece.length;
    } else if (extent.kind === "compressed") {
      this.#compressed.set(piece, this.#done);
    } else {
      this.#table ??= new Uint8Array(extent.length);
      this.#table.set(piece, this.#done);
    }
    this.#done += piece.length;
  }

  async #complete(extent: Extent): Promise<void> {
    this.#first++;
    this.#done = 0;
    if (extent.kind === "data") {
      this.#head++;
      await this.#writeWaiting();
    } else if (extent.kind === "compressed") {
      await this.#compressedRead(extent);
    } else {
      const table = this.#table!;
      this.#table = null;
      if (extent.kind === "header") this.#readHeader(table);
      else if (extent.kind === "l1") this.#readL1(table);
      else this.#readL2(table, extent.guest);
    }
  }

  /** An uncompressed cluster starts: everything before it in guest order must be written. */
  async #startData(extent: Data): Promise<void> {
    await this.#writeWaiting();
    const head = this.#queue[this.#head]!;
    if (head !== extent) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} stores guest offset ${extent.guest} at host offset ` +
          `${extent.start}, before guest offset ${head.guest} at host offset ${head.start}: ` +
          "only images with data in guest order (as written by qemu-img convert) can be streamed",
      );
    }
    await this.#seekGuest(extent.guest, extent.start);
  }

  /** A compressed cluster has been read: write it, or keep it until the output reaches it. */
  async #compressedRead(extent: Compressed): Promise<void> {
    this.#lookBack!.mark(extent.start + extent.length - 1);
    // The span ends on a sector boundary; the next cluster, if it starts sooner, ends this one.
    const next = this.#pending[this.#first];
    const length = next && next.start > extent.start
      ? Math.min(extent.length, next.start - extent.start)
      : extent.length;
    const bytes = this.#compressed.subarray(0, length);
    await this.#writeWaiting();
    if (this.#queue[this.#head] === extent) {
      await this.#writeCluster(extent, bytes);
      return;
    }
    this.#waitingBytes += length;
    if (this.#waitingBytes > this.#maxWaitingBytes) {
      const head = this.#queue[this.#head]!;
      throw new InvalidImage(
        `qcow2 image ${this.#id} has ${this.#waitingBytes} bytes of compressed clusters ` +
          `waiting for guest offset ${head.guest} at host offset ${head.start}, more than the ` +
          `${this.#maxWaitingBytes}-byte limit: only images laid out as qemu-img convert writes ` +
          "them can be streamed",
      );
    }
    extent.waiting = bytes.slice();
  }

  /** Writes the compressed clusters at the head of the guest queue that have been read. */
  async #writeWaiting(): Promise<void> {
    for (;;) {
      const head = this.#queue[this.#head];
      if (head?.kind !== "compressed" || !head.waiting) return;
      const bytes = head.waiting;
      head.waiting = undefined;
      this.#waitingBytes -= bytes.length;
      await this.#writeCluster(head, bytes);
    }
  }

  async #writeCluster(extent: Compressed, bytes: Uint8Array): Promise<void> {
    const header = this.#header!;
    // Made at the first compressed cluster: node:zlib is loaded on first use.
    this.#decompressor ??= await ClusterDecompressor.create(
      header.compressionType,
      this.#clusterSize,
    );
    let cluster: Uint8Array;
    try {
      cluster = this.#decompressor.decompress(bytes);
    } catch (err) {
      const type = header.compressionType === COMPRESSION_ZSTD ? "zstd" : "deflate";
      throw new ImageWriteError(
        `Writing image ${this.#id} failed: the ${type}-compressed cluster for guest offset ` +
          `${extent.guest} at host offset ${extent.start} is corrupt: ${(err as Error).message}`,
        { cause: err },
      );
    }
    await this.#seekGuest(extent.guest, extent.start);
    const length = Math.min(this.#clusterSize, header.virtualSize - extent.guest);
    await this.#next.write(cluster.subarray(0, length));
    this.#guest += length;
    this.#head++;
  }

  /** Writes zeros up to `guest`; data must arrive in guest order for a sequential write. */
  async #seekGuest(guest: number, host: number): Promise<void> {
    if (guest < this.#guest) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} stores guest offset ${guest} at host offset ${host}, after ` +
          `guest offset ${this.#guest}: only images with data in guest order (as written by ` +
          "qemu-img convert) can be streamed",
      );
    }
    await writeZeros(this.#next, guest - this.#guest);
    this.#guest = guest;
  }

  #readHeader(bytes: Uint8Array): void {
    const header = parseQcow2Header(bytes);
    const refuse = (what: string) => {
      throw new InvalidImage(`qcow2 image ${this.#id} ${what}, which cannot be streamed`);
    };
    // inspectHead refuses most of these too; the decoder must not write what it cannot read.
    if (header.version !== 2 && header.version !== 3) refuse(`is version ${header.version}`);
    if (header.backingFileOffset !== 0n) refuse("has a backing file");
    if (header.incompatibleFeatures & QCOW2_EXTERNAL_DATA_FILE) refuse("has an external data file");
    const cryptMethod = new DataView(bytes.buffer, bytes.byteOffset).getUint32(32);
    if (cryptMethod !== 0) refuse(`is encrypted (crypt method ${cryptMethod})`);
    const unknown = header.incompatibleFeatures & ~DECODABLE_FEATURES;
    if (unknown) refuse(`has incompatible features 0x${unknown.toString(16)}`);
    const typeBit = (header.incompatibleFeatures & COMPRESSION_TYPE_FEATURE) !== 0n;
    const type = header.compressionType;
    if (typeBit ? type !== COMPRESSION_ZSTD : type !== COMPRESSION_DEFLATE) {
      refuse(
        `has compression type ${type} with the compression-type feature bit ` +
          (typeBit ? "set" : "clear"),
      );
    }
    if (header.clusterBits < 9 || header.clusterBits > 21) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} has cluster bits ${header.clusterBits}, outside 9-21`,
      );
    }
    this.#header = header;
    this.#clusterSize = 2 ** header.clusterBits;
    this.#lookBack = new LookBack(this.#clusterSize, this.#host);
    this.#compressed = new Uint8Array(2 * this.#clusterSize);
    this.#maxWaitingBytes = Math.max(4 * this.#clusterSize, MIN_WAITING_BYTES);
    const l1Bytes = header.l1Size * 8;
    const l2Span = (this.#clusterSize / 8) * this.#clusterSize;
    if (l1Bytes > MAX_L1_BYTES || header.l1Size < Math.ceil(header.virtualSize / l2Span)) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} has an invalid L1 table size ${header.l1Size} for virtual ` +
          `size ${header.virtualSize}`,
      );
    }
    if (l1Bytes > 0) {
      this.#add([{ kind: "l1", start: header.l1TableOffset, length: l1Bytes }]);
    }
  }

  #readL1(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const l2Span = (this.#clusterSize / 8) * this.#clusterSize;
    const tables: Extent[] = [];
    for (let i = 0; i < bytes.length / 8; i++) {
      const start = Number(view.getBigUint64(i * 8) & OFFSET_MASK);
      if (start !== 0) {
        tables.push({ kind: "l2", start, length: this.#clusterSize, guest: i * l2Span });
      }
    }
    this.#add(tables);
  }

  #readL2(bytes: Uint8Array, base: number): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const size = this.#header!.virtualSize;
    const clusters: (Data | Compressed)[] = [];
    for (let i = 0; i < bytes.length / 8; i++) {
      const entry = view.getBigUint64(i * 8);
      const guest = base + i * this.#clusterSize;
      if (entry === 0n || guest >= size) continue;
      if (entry & COMPRESSED) {
        const span = compressedSpan(entry, this.#header!.clusterBits);
        if (!span) {
          throw new InvalidImage(
            `qcow2 image ${this.#id} has an invalid compressed cluster descriptor ` +
              `0x${entry.toString(16)} for guest offset ${guest}`,
          );
        }
        clusters.push({ kind: "compressed", ...span, guest });
        continue;
      }
      const start = Number(entry & OFFSET_MASK);
      // A cluster flagged all-zero reads as zeros whatever it points at: leave it a hole.
      if (start === 0 || entry & ZERO_FLAG) continue;
      const length = Math.min(this.#clusterSize, size - guest);
      clusters.push({ kind: "data", start, length, guest });
    }
    // In guest order already: one table maps one contiguous guest range.
    this.#queue = mergeBy(this.#queue.slice(this.#head), clusters, (e) => e.guest);
    this.#head = 0;
    this.#add(clusters);
  }

  /**
   * Merges new extents into the pending list. Each must start ahead of the stream or where the
   * decoder still holds the bytes, and not inside another extent, except that an extent may
   * begin in the span of a compressed cluster (whose last sector the next one may share).
   */
  #add(extents: Extent[]): void {
    const merged = mergeBy(
      this.#pending.slice(this.#first),
      extents.toSorted((a, b) => a.start - b.start),
      (e) => e.start,
    );
    let end = 0;
    let previous: Extent | null = null;
    for (const extent of merged) {
      const inCompressed = previous?.kind === "compressed" && extent.start >= previous.start;
      const held = extent.start >= this.#host || this.#lookBack?.has(extent.start) === true;
      if (!held || (extent.start < end && !inCompressed)) {
        const where = held
          ? `inside the ${previous!.kind} at host offset ${previous!.start}`
          : `behind byte ${this.#host} already read`;
        throw new InvalidImage(
          `qcow2 image ${this.#id} has its ${extent.kind} at host offset ${extent.start}, ` +
            `${where}: only images whose tables precede their data (as written by qemu-img ` +
            "convert) can be streamed",
        );
      }
      end = Math.max(end, extent.start + extent.length);
      previous = extent;
    }
    this.#pending = merged;
    this.#first = 0;
  }
}

/** Merges two lists each sorted by `key` (stable: on a tie, `a` first). */
function mergeBy<T>(a: T[], b: T[], key: (item: T) => number): T[] {
  const merged: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j < b.length && (i >= a.length || key(b[j]!) < key(a[i]!))) merged.push(b[j++]!);
    else merged.push(a[i++]!);
  }
  return merged;
}
