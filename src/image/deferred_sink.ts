/**
 * A sink whose real target is opened by an async step on the first write (or close): a partition
 * image only lays out the disk once inspection has accepted the image and its size, and that
 * takes tools that cannot run inside the synchronous `openDevice` of the pipeline.
 */
import type { ByteSink } from "./byte_sink.ts";

export class DeferredSink implements ByteSink {
  readonly #open: () => Promise<ByteSink>;
  #next: Promise<ByteSink> | null = null;

  constructor(open: () => Promise<ByteSink>) {
    this.#open = open;
  }

  #target(): Promise<ByteSink> {
    this.#next ??= this.#open();
    return this.#next;
  }

  async write(chunk: Uint8Array): Promise<void> {
    await (await this.#target()).write(chunk);
  }

  async close(): Promise<void> {
    await (await this.#target()).close();
  }

  async abort(reason: unknown): Promise<void> {
    // Never opened: nothing to stop. Failed to open: nothing was started either.
    const next = await this.#next?.catch(() => null);
    await next?.abort(reason);
  }
}
