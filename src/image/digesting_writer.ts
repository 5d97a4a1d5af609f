/**
 * Writes a byte stream to an output (the `dd` process's stdin) and hashes it, with hashing on a
 * worker thread so it runs alongside the write rather than between writes.
 *
 * Incoming chunks are copied once into a ring of 1 MiB slots in a `SharedArrayBuffer`. Each full
 * slot is handed to the output and to the hash worker at the same time; the slot is reused only
 * after both are done with it. Memory is bounded by the ring (8 MiB by default) and the output's
 * backpressure reaches the network reader through `write()`.
 */
import type { HashAlgorithm } from "./checksum.ts";
import type { FromHashWorker, ToHashWorker } from "./hash_worker.ts";

export interface DigestingWriterOptions {
  algorithm: HashAlgorithm;
  /** Number of ring slots (default 8). */
  slots?: number;
  /** Bytes per slot; also the size of each write to the output (default 1 MiB). */
  slotBytes?: number;
}

/** The output refused a write (for `dd`: it exited); `cause` is the stream's error. */
export class OutputWriteError extends Error {
  constructor(cause: unknown) {
    super(`Writing to the output failed: ${cause instanceof Error ? cause.message : cause}`, {
      cause,
    });
  }
}

export const SLOT_BYTES = 1024 * 1024;

export class DigestingWriter implements Disposable {
  readonly #output: WritableStreamDefaultWriter<Uint8Array>;
  readonly #worker: Worker;
  readonly #ring: Uint8Array;
  readonly #slotBytes: number;
  /** Per slot: how many of {output write, hash} still use it. */
  readonly #busy: number[];
  readonly #waiters: ((() => void) | null)[];
  #slot = 0;
  #fill = 0;
  #written = 0;
  #failure: Error | null = null;
  #digest: PromiseWithResolvers<string> | null = null;

  constructor(output: WritableStreamDefaultWriter<Uint8Array>, options: DigestingWriterOptions) {
    const slots = options.slots ?? 8;
    this.#slotBytes = options.slotBytes ?? SLOT_BYTES;
    this.#output = output;
    this.#ring = new Uint8Array(new SharedArrayBuffer(slots * this.#slotBytes));
    this.#busy = new Array<number>(slots).fill(0);
    this.#waiters = new Array<(() => void) | null>(slots).fill(null);
    // The literal `new URL(..., import.meta.url)` form lets `deno compile` find the worker.
    this.#worker = new Worker(new URL("./hash_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (event: MessageEvent<FromHashWorker>) => this.#onWorker(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`The hash worker failed: ${event.message}`));
    };
    this.#post({
      type: "init",
      algorithm: options.algorithm,
      buffer: this.#ring.buffer as SharedArrayBuffer,
    });
  }

  /** Bytes the output has accepted so far. */
  get written(): number {
    return this.#written;
  }

  /** Copies `chunk` into the ring; resolves when there is room for more. */
  async write(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(this.#slotBytes - this.#fill, chunk.length - offset);
      this.#ring.set(
        chunk.subarray(offset, offset + take),
        this.#slot * this.#slotBytes + this.#fill,
      );
      this.#fill += take;
      offset += take;
      if (this.#fill === this.#slotBytes) {
        this.#dispatch();
        await this.#whenFree(this.#slot);
      }
    }
  }

  /** Flushes the last partial slot, waits for every write and returns the hex digest. */
  async finish(): Promise<string> {
    this.#throwIfFailed();
    if (this.#fill > 0) this.#dispatch();
    for (let slot = 0; slot < this.#busy.length; slot++) await this.#whenFree(slot);
    this.#digest = Promise.withResolvers<string>();
    this.#post({ type: "digest" });
    const hex = await this.#digest.promise;
    this.#throwIfFailed();
    return hex;
  }

  [Symbol.dispose](): void {
    this.#worker.terminate();
    this.#fail(new Error("DigestingWriter disposed"));
  }

  /** Hands the current slot to the output and the worker, then moves to the next slot. */
  #dispatch(): void {
    const slot = this.#slot;
    const start = slot * this.#slotBytes;
    const length = this.#fill;
    this.#busy[slot] = 2;
    this.#output.write(this.#ring.subarray(start, start + length)).then(
      () => {
        this.#written += length;
        this.#release(slot);
      },
      (err) => this.#fail(new OutputWriteError(err)),
    );
    this.#post({ type: "update", slot, offset: start, length });
    this.#slot = (slot + 1) % this.#busy.length;
    this.#fill = 0;
  }

  #whenFree(slot: number): Promise<void> {
    if (this.#busy[slot] === 0 || this.#failure) return this.#checked();
    return new Promise<void>((resolve) => {
      this.#waiters[slot] = resolve;
    }).then(() => this.#checked());
  }

  #checked(): Promise<void> {
    return this.#failure ? Promise.reject(this.#failure) : Promise.resolve();
  }

  #release(slot: number): void {
    const left = (this.#busy[slot] ?? 1) - 1;
    this.#busy[slot] = left;
    if (left === 0) this.#wake(slot);
  }

  #wake(slot: number): void {
    const waiter = this.#waiters[slot];
    this.#waiters[slot] = null;
    waiter?.();
  }

  #onWorker(message: FromHashWorker): void {
    if (message.type === "hashed") this.#release(message.slot);
    else if (message.type === "digest") this.#digest?.resolve(message.hex);
    else this.#fail(new Error(`The hash worker failed: ${message.message}`));
  }

  #post(message: ToHashWorker): void {
    this.#worker.postMessage(message);
  }

  /** Records the first failure and wakes everything waiting, which then throws it. */
  #fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    for (let slot = 0; slot < this.#waiters.length; slot++) this.#wake(slot);
    this.#digest?.reject(error);
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}
