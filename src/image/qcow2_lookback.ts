/**
 * The bytes a streaming qcow2 reader may need again after reading past them, in bounded memory:
 *
 * - the last `max(4 clusters, 1 MiB)` bytes read (a ring), for compressed clusters that begin in
 *   the final sector of the previous one, and extents mapped just behind the table that maps them;
 * - copies of the last 4 host clusters that hold the end of a compressed cluster. qemu packs
 *   compressed clusters byte by byte into one host cluster at a time and allocates an L2 table
 *   when the first cluster of its range is written, so the rest of that host cluster can hold
 *   clusters whose L2 table comes later in the file, after any number of uncompressed clusters.
 */

const MIN_WINDOW_BYTES = 1024 * 1024;
const COPIES = 4;

export class LookBack {
  readonly #clusterSize: number;
  readonly #window: Uint8Array;
  /** Host offset after the last byte retained; the ring holds `#kept` bytes before it. */
  #host: number;
  #kept = 0;
  /** Ends of host clusters to copy once read, ascending. */
  #marked: number[] = [];
  /** Cluster copies, reused in turn; `bytes` is a view of the part that was still held. */
  readonly #copies: { start: number; bytes: Uint8Array; buffer: Uint8Array }[] = [];
  #nextCopy = 0;

  constructor(clusterSize: number, host: number) {
    this.#clusterSize = clusterSize;
    this.#window = new Uint8Array(Math.max(4 * clusterSize, MIN_WINDOW_BYTES));
    this.#host = host;
    for (let i = 0; i < COPIES; i++) {
      this.#copies.push({
        start: -1,
        bytes: new Uint8Array(0),
        buffer: new Uint8Array(clusterSize),
      });
    }
  }

  /** The oldest host offset the ring still holds. */
  get oldest(): number {
    return this.#host - this.#kept;
  }

  /** Takes the next bytes of the file. */
  retain(piece: Uint8Array): void {
    let offset = 0;
    while (offset < piece.length) {
      const stop = this.#marked[0] ?? Infinity;
      const take = Math.min(piece.length - offset, stop - this.#host);
      this.#append(piece.subarray(offset, offset + take));
      offset += take;
      if (this.#host === stop) {
        this.#marked.shift();
        this.#copy(stop - this.#clusterSize, stop);
      }
    }
  }

  /** Keeps a copy of the host cluster holding `offset` (the end of a compressed cluster). */
  mark(offset: number): void {
    const start = offset - (offset % this.#clusterSize);
    const end = start + this.#clusterSize;
    if (this.#copyOf(offset) || this.#marked.includes(end)) return;
    if (end <= this.#host) {
      this.#copy(start, end);
      return;
    }
    this.#marked.push(end);
    this.#marked.sort((a, b) => a - b);
  }

  /** Whether the byte at host offset `at` is still held. */
  has(at: number): boolean {
    return (at >= this.oldest && at < this.#host) || this.#copyOf(at) !== undefined;
  }

  /** Up to `length` held bytes from host offset `at` (one contiguous run), or null. */
  recall(at: number, length: number): Uint8Array | null {
    if (at >= this.oldest && at < this.#host) {
      const size = this.#window.length;
      const index = at % size;
      const run = Math.min(length, size - index, this.#host - at);
      return this.#window.subarray(index, index + run);
    }
    const copy = this.#copyOf(at);
    if (!copy) return null;
    const index = at - copy.start;
    return copy.bytes.subarray(index, index + Math.min(length, copy.bytes.length - index));
  }

  #copyOf(at: number) {
    return this.#copies.find((c) => c.start >= 0 && at >= c.start && at < c.start + c.bytes.length);
  }

  #append(piece: Uint8Array): void {
    const size = this.#window.length;
    this.#host += piece.length;
    this.#kept = Math.min(size, this.#kept + piece.length);
    const tail = piece.length > size ? piece.subarray(piece.length - size) : piece;
    const index = (this.#host - tail.length) % size;
    const first = Math.min(tail.length, size - index);
    this.#window.set(tail.subarray(0, first), index);
    this.#window.set(tail.subarray(first), 0);
  }

  /** Copies what the ring still holds of [start, end). */
  #copy(start: number, end: number): void {
    const from = Math.max(start, this.oldest);
    if (from >= end) return;
    const copy = this.#copies[this.#nextCopy]!;
    this.#nextCopy = (this.#nextCopy + 1) % COPIES;
    // Invalidate the slot before filling it: `recall` must not read from it meanwhile.
    copy.start = -1;
    copy.bytes = copy.buffer.subarray(0, end - from);
    for (let at = from; at < end;) {
      const run = this.recall(at, end - at)!;
      copy.bytes.set(run, at - from);
      at += run.length;
    }
    copy.start = from;
  }
}
