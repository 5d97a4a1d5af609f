/**
 * Erasure without drive security commands: discard for devices that drop data on request
 * (SSDs, thin volumes, loop files), `shred` for everything else (spec 09 §2.4).
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { readSystemFiles } from "../system/sysfs.ts";

export type OverwriteMethod = "secure_discard" | "discard_zeroout" | "shred";

export interface DiscardSupport {
  /** `queue/discard_max_bytes` > 0: the device takes discards. */
  discard: boolean;
  /** `queue/write_zeroes_max_bytes` > 0: zeroing is offloaded (no data crosses the bus). */
  writeZeroes: boolean;
}

/** Reads the device's discard limits from sysfs; unreadable means unsupported. */
export async function discardSupport(runner: Runner, device: string): Promise<DiscardSupport> {
  const kname = device.replace(/^\/dev\//, "");
  const path = (f: string) => `/sys/class/block/${kname}/queue/${f}`;
  const values = await readSystemFiles(runner, [
    path("discard_max_bytes"),
    path("write_zeroes_max_bytes"),
  ]);
  const positive = (f: string) => Number(values.get(path(f))?.trim() ?? "0") > 0;
  return {
    discard: positive("discard_max_bytes"),
    writeZeroes: positive("write_zeroes_max_bytes"),
  };
}

export interface DiscardOptions {
  log: Logger;
  signal?: AbortSignal;
  /** Bound for each blkdiscard call. */
  timeoutMs: number;
}

/**
 * Erases by discard when the device can: a secure discard (the device guarantees the blocks
 * are gone), else a discard followed by an offloaded zero-out, so reads return zeros even where
 * discarded blocks would read back stale data. Null when the device supports neither; the
 * caller then overwrites.
 */
export async function discardErase(
  runner: Runner,
  device: string,
  support: DiscardSupport,
  options: DiscardOptions,
): Promise<OverwriteMethod | null> {
  if (!support.discard) return null;
  const run = (args: string[]) =>
    runner.run("blkdiscard", [...args, device], {
      timeoutMs: options.timeoutMs,
      signal: options.signal,
    });
  try {
    await run(["--secure"]);
    return "secure_discard";
  } catch (err) {
    // Most devices refuse BLKSECDISCARD (EOPNOTSUPP); the plain path follows.
    options.log.debug("Secure discard not supported", { device, error: err });
  }
  if (!support.writeZeroes) return null;
  await run([]);
  await run(["--zeroout"]);
  return "discard_zeroout";
}

export interface ShredOptions {
  log: Logger;
  signal?: AbortSignal;
  iterations: number;
  zeroize: boolean;
  /** Device size in bytes, to bound the run time. */
  sizeBytes: number;
}

/** The shred command line of spec 09 §2.4. */
export function shredArgs(device: string, options: { iterations: number; zeroize: boolean }) {
  return [
    "--force",
    ...(options.zeroize ? ["--zero"] : []),
    "--verbose",
    "--iterations",
    String(options.iterations),
    device,
  ];
}

/**
 * Overwrites `device` with shred. Bounded by a time for each pass at 20 MB/s (slower than any
 * disk still in service) plus an hour, so only a hung device times out.
 */
export async function shredDevice(runner: Runner, device: string, options: ShredOptions) {
  const passes = options.iterations + (options.zeroize ? 1 : 0);
  const timeoutMs = 3_600_000 + Math.ceil((options.sizeBytes / 20e6) * 1000) * Math.max(passes, 1);
  options.log.info("Overwriting device with shred", { device, passes });
  await runner.run("shred", shredArgs(device, options), { timeoutMs, signal: options.signal });
}
