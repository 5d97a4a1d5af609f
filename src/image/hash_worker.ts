/**
 * Worker side of `DigestingWriter`: hashes slots of a shared ring buffer on its own thread, so
 * hashing overlaps the device write instead of adding to it (SHA-512 and MD5 run at roughly
 * disk speed). Messages are handled in order, so the digest sees the bytes in stream order.
 */
import type { Hash } from "node:crypto";
import { createHasher, type HashAlgorithm } from "./checksum.ts";

export type ToHashWorker =
  | { type: "init"; algorithm: HashAlgorithm; buffer: SharedArrayBuffer }
  | { type: "update"; slot: number; offset: number; length: number }
  | { type: "digest" };

export type FromHashWorker =
  | { type: "hashed"; slot: number }
  | { type: "digest"; hex: string }
  | { type: "error"; message: string };

/** The worker global, typed without the worker lib so one `deno check` covers every file. */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToHashWorker>) => void) | null;
  postMessage(message: FromHashWorker): void;
}

const scope = globalThis as unknown as WorkerScope;
let hash: Hash | null = null;
let ring: Uint8Array | null = null;

function reply(message: FromHashWorker): void {
  scope.postMessage(message);
}

scope.onmessage = (event) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init":
        hash = createHasher(message.algorithm);
        ring = new Uint8Array(message.buffer);
        return;
      case "update":
        if (!hash || !ring) throw new Error("hash worker used before init");
        hash.update(ring.subarray(message.offset, message.offset + message.length));
        reply({ type: "hashed", slot: message.slot });
        return;
      case "digest":
        if (!hash) throw new Error("hash worker used before init");
        reply({ type: "digest", hex: hash.digest("hex") });
        hash = null;
        return;
    }
  } catch (err) {
    reply({ type: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
