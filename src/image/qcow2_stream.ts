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
 * An image laid out otherwise (data before its table, data out of guest order, compressed
 * clusters) is refused with `InvalidImage` naming the offset; the write is then incomplete and
 * reported as failed.
 */
import { InvalidImage } from "../api/errors.ts";
import { type ByteSink, writeZeros } from "./byte_sink.ts";
import { parseQcow2Header, type Qcow2Header } from "./format_inspect.ts";

/** Bits 9–55 of an L1/L2 entry: the host offset. */
const OFFSET_MASK = 0x00fffffffffffe00n;
const COMPRESSED = 1n << 62n;
const ZERO_FLAG = 1n;
/** qemu's own limit on the L1 table. */
const MAX_L1_BYTES = 32 * 1024 * 1024;
const HEADER_BYTES = 112;

type Extent =
  | { kind: "header"; start: number; length: number }
  | { kind: "l1"; start: number; length: number }
  | { kind: "l2"; start: number; length: number; guest: number }
  | { kind: "data"; start: number; length: number; guest: number };

export class Qcow2StreamDecoder implements ByteSink {
  readonly #next: ByteSink;
  readonly #id: string;
  #header: Qcow2Header | null = null;
  #clusterSize = 0;
  /** Extents not reached yet, sorted by host offset; `#first` is the next one. */
  #pending: Extent[] = [{ kind: "header", start: 0, length: HEADER_BYTES }];
  #first = 0;
  /** Bytes of the table extent being collected. */
  #table: Uint8Array | null = null;
  #tableFill = 0;
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

  async write(chunk: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < chunk.length) {
      const extent = this.#pending[this.#first];
      if (!extent) {
        // Nothing left to map (refcounts, snapshots, padding): skip.
        this.#host += chunk.length - offset;
        return;
      }
      if (this.#host < extent.start) {
        const skip = Math.min(extent.start - this.#host, chunk.length - offset);
        this.#host += skip;
        offset += skip;
        continue;
      }
      const take = Math.min(extent.start + extent.length - this.#host, chunk.length - offset);
      const piece = chunk.subarray(offset, offset + take);
      if (extent.kind === "data") {
        if (this.#host === extent.start) await this.#seekGuest(extent.guest, extent.start);
        await this.#next.write(piece);
        this.#guest += take;
      } else {
        this.#table ??= new Uint8Array(extent.length);
        this.#table.set(piece, this.#tableFill);
        this.#tableFill += take;
      }
      this.#host += take;
      offset += take;
      if (this.#host === extent.start + extent.length) {
        this.#first++;
        if (extent.kind !== "data") this.#tableDone(extent);
      }
    }
  }

  async close(): Promise<void> {
    const missing = this.#pending[this.#first];
    if (missing) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} ended at byte ${this.#host}, before its ${missing.kind} ` +
          `at host offset ${missing.start}`,
      );
    }
    const size = this.#header?.virtualSize ?? 0;
    await writeZeros(this.#next, size - this.#guest);
    this.#guest = size;
    await this.#next.close();
  }

  async abort(reason: unknown): Promise<void> {
    await this.#next.abort(reason);
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

  #tableDone(extent: Extent): void {
    const table = this.#table!;
    this.#table = null;
    this.#tableFill = 0;
    if (extent.kind === "header") this.#readHeader(table);
    else if (extent.kind === "l1") this.#readL1(table);
    else if (extent.kind === "l2") this.#readL2(table, extent.guest);
  }

  #readHeader(bytes: Uint8Array): void {
    const header = parseQcow2Header(bytes);
    if (header.clusterBits < 9 || header.clusterBits > 21) {
      throw new InvalidImage(
        `qcow2 image ${this.#id} has cluster bits ${header.clusterBits}, outside 9-21`,
      );
    }
    this.#header = header;
    this.#clusterSize = 2 ** header.clusterBits;
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
    const clusters: Extent[] = [];
    for (let i = 0; i < bytes.length / 8; i++) {
      const entry = view.getBigUint64(i * 8);
      const guest = base + i * this.#clusterSize;
      if (entry === 0n || guest >= size) continue;
      if (entry & COMPRESSED) {
        throw new InvalidImage(
          `qcow2 image ${this.#id} has compressed clusters (guest offset ${guest}), which this ` +
            "agent cannot stream; convert it without -c",
        );
      }
      const start = Number(entry & OFFSET_MASK);
      // A cluster flagged all-zero reads as zeros whatever it points at: leave it a hole.
      if (start === 0 || entry & ZERO_FLAG) continue;
      const length = Math.min(this.#clusterSize, size - guest);
      clusters.push({ kind: "data", start, length, guest });
    }
    this.#add(clusters);
  }

  /** Merges new extents into the pending list; each must lie ahead of the stream. */
  #add(extents: Extent[]): void {
    extents.sort((a, b) => a.start - b.start);
    const rest = this.#pending.slice(this.#first);
    const merged: Extent[] = [];
    let i = 0;
    let j = 0;
    while (i < rest.length || j < extents.length) {
      const a = rest[i];
      const b = extents[j];
      if (b && (!a || b.start < a.start)) {
        merged.push(b);
        j++;
      } else {
        merged.push(a!);
        i++;
      }
    }
    let end = this.#host;
    for (const extent of merged) {
      if (extent.start < end) {
        throw new InvalidImage(
          `qcow2 image ${this.#id} has its ${extent.kind} at host offset ${extent.start}, ` +
            `before byte ${end} already read or overlapping another table: only images whose ` +
            "tables precede their data (as written by qemu-img convert) can be streamed",
        );
      }
      end = extent.start + extent.length;
    }
    this.#pending = merged;
    this.#first = 0;
  }
}
