/**
 * The stages an image passes through between the download and the device (decompression, qcow2
 * decoding, the `dd` writer) all take bytes the same way. A chunk passed to `write` belongs to
 * the caller again once the returned promise settles: a stage that keeps bytes copies them.
 */
export interface ByteSink {
  write(chunk: Uint8Array): Promise<void>;
  /** End of input: flush, and settle once everything downstream has finished. */
  close(): Promise<void>;
  /** Stops the stage and everything downstream without completing the output. */
  abort(reason: unknown): Promise<void>;
}

/** A 1 MiB block of zeros, shared by every stage that writes holes (never modified). */
export const ZEROS = new Uint8Array(1024 * 1024);

/** Writes `length` zero bytes to `sink`. */
export async function writeZeros(sink: ByteSink, length: number): Promise<void> {
  while (length > 0) {
    const take = Math.min(length, ZEROS.length);
    await sink.write(ZEROS.subarray(0, take));
    length -= take;
  }
}

/** A sink that collects everything in memory: for tests only. */
export class MemorySink implements ByteSink {
  readonly #parts: Uint8Array[] = [];
  closed = false;
  aborted: unknown = null;

  write(chunk: Uint8Array): Promise<void> {
    this.#parts.push(chunk.slice());
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  abort(reason: unknown): Promise<void> {
    this.aborted = reason ?? "aborted";
    return Promise.resolve();
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of this.#parts) {
      out.set(part, offset);
      offset += part.length;
    }
    return out;
  }
}
