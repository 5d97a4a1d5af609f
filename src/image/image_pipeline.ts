/**
 * Chooses, from the first bytes of the download stream, how an image reaches the device (spec
 * 08 §6.1 done on the stream): the head is held back until it has been inspected, so a refused
 * image leaves the device untouched — the device writer is only opened once the format, its
 * safety checks and the permitted/declared formats have passed.
 *
 *   raw, gpt, iso                  → device
 *   qcow2                          → qcow2 stream decoder → device
 *   gzip, xz, zstd                 → decompressor → inspect the content again → as above
 */
import { InvalidImage } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import type { ByteSink } from "./byte_sink.ts";
import { decompressStage } from "./decompress.ts";
import {
  checkFormatPolicy,
  type Compression,
  COMPRESSIONS,
  INSPECT_BYTES,
  inspectHead,
  type Inspection,
} from "./format_inspect.ts";
import { Qcow2StreamDecoder } from "./qcow2_stream.ts";

/** Formats whose bytes are the disk content. */
const RAW_FORMATS = new Set(["raw", "gpt", "iso"]);

/** Holds the first bytes until `decide` has chosen the next stage, then forwards everything. */
export class InspectingSink implements ByteSink {
  readonly #decide: (head: Uint8Array) => Promise<ByteSink> | ByteSink;
  readonly #head: Uint8Array;
  #fill = 0;
  #next: ByteSink | null = null;

  constructor(decide: (head: Uint8Array) => Promise<ByteSink> | ByteSink, bytes = INSPECT_BYTES) {
    this.#decide = decide;
    this.#head = new Uint8Array(bytes);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#next) return await this.#next.write(chunk);
    const take = Math.min(chunk.length, this.#head.length - this.#fill);
    this.#head.set(chunk.subarray(0, take), this.#fill);
    this.#fill += take;
    if (this.#fill < this.#head.length) return;
    await this.#start();
    if (take < chunk.length) await this.#next!.write(chunk.subarray(take));
  }

  async close(): Promise<void> {
    // An image smaller than the inspection window is inspected at the end.
    if (!this.#next) await this.#start();
    await this.#next!.close();
  }

  async abort(reason: unknown): Promise<void> {
    await this.#next?.abort(reason);
  }

  async #start(): Promise<void> {
    const head = this.#head.subarray(0, this.#fill);
    this.#next = await this.#decide(head);
    if (head.length > 0) await this.#next.write(head);
  }
}

export interface PipelineOptions {
  imageId: string;
  /** The conductor's `disk_format`. */
  declared: string | null | undefined;
  permitted: readonly string[];
  /** false when `disable_deep_image_inspection` is set. */
  deep: boolean;
  /** Size of the target in bytes: a larger qcow2 virtual size is refused before writing. */
  deviceBytes: number | null;
  /**
   * Opens the device writer; called at most once, only after inspection has passed, with what
   * the inspection found (a partition image checks its root size against it).
   */
  openDevice: (found: FoundImage) => ByteSink;
  runner: Runner;
  log: Logger;
  signal?: AbortSignal;
  timeoutMs: number;
}

/** What inspection found, handed to `openDevice`. */
export interface FoundImage {
  format: string;
  compression: Compression | null;
  /** A qcow2 image's virtual size; null for raw content (its size is the stream's). */
  virtualSize: number | null;
}

/** What the pipeline decided, for logs and results. */
export interface PipelineChoice {
  format: string | null;
  compression: Compression | null;
  virtualSize: number | null;
}

function isCompression(format: string): format is Compression {
  return (COMPRESSIONS as readonly string[]).includes(format);
}

/** Builds the stage the downloaded bytes go into; `choice` is filled in once it is known. */
export function createImagePipeline(
  options: PipelineOptions,
): { sink: ByteSink; choice: PipelineChoice } {
  const choice: PipelineChoice = { format: null, compression: null, virtualSize: null };

  function content(inspection: Inspection, compression: Compression | null): ByteSink {
    const { format } = inspection;
    if (options.deep) {
      checkFormatPolicy(format, {
        declared: options.declared,
        permitted: options.permitted,
        compression: compression ?? undefined,
      });
    }
    choice.format = format;
    options.log.info("image format inspected", {
      image: options.imageId,
      format,
      compression: compression ?? undefined,
      declared: options.declared ?? undefined,
    });
    if (RAW_FORMATS.has(format)) {
      return options.openDevice({ format, compression, virtualSize: null });
    }
    if (format === "qcow2") {
      const size = inspection.qcow2!.virtualSize;
      choice.virtualSize = size;
      if (options.deviceBytes !== null && size > options.deviceBytes) {
        throw new InvalidImage(
          `Image ${options.imageId} has a virtual size of ${size} bytes, larger than the ` +
            `${options.deviceBytes} bytes of the target device`,
        );
      }
      const device = options.openDevice({ format, compression, virtualSize: size });
      return new Qcow2StreamDecoder(device, { imageId: options.imageId });
    }
    throw new InvalidImage(
      `Image ${options.imageId} is ${format}, which this agent cannot write (it writes raw, ` +
        "gpt, iso and qcow2, optionally gzip-, xz- or zstd-compressed)",
    );
  }

  const sink = new InspectingSink((head) => {
    const outer = inspectHead(head, { deep: options.deep });
    if (!isCompression(outer.format)) return content(outer, null);
    const compression = outer.format;
    choice.compression = compression;
    const inner = new InspectingSink((innerHead) => {
      const inspection = inspectHead(innerHead, { deep: options.deep });
      if (isCompression(inspection.format)) {
        throw new InvalidImage(
          `Image ${options.imageId} is ${compression}-compressed ${inspection.format}: nested ` +
            "compression is not supported",
        );
      }
      return content(inspection, compression);
    });
    return decompressStage(compression, inner, {
      runner: options.runner,
      imageId: options.imageId,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
    });
  });
  return { sink, choice };
}
