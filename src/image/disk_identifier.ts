/**
 * The disk identifier reported as `root uuid` for whole-disk images (spec 08 §9): the MBR disk
 * signature, 4 bytes at offset 440 read as a little-endian 32-bit integer, printed `0x%08x`.
 * GPT-only disks usually give `0x00000000` (their protective MBR has no signature).
 *
 * Read with `od` through the Runner (Deno cannot open /dev, and `od` prints text, unlike `dd`).
 */
import { DeploymentError } from "../api/errors.ts";
import type { Runner } from "../system/run.ts";
import { abortableSleep, type Sleep } from "./sleep.ts";

export interface DiskIdentifierOptions {
  /** Tries before giving up (IPA: 5); the device may still be settling after the write. */
  attempts?: number;
  intervalMs?: number;
  sleep?: Sleep;
}

/** `od` arguments printing the signature as one hex word. */
export function odArguments(device: string): string[] {
  return [
    "--address-radix=n",
    "--format=x4",
    "--endian=little",
    "--skip-bytes=440",
    "--read-bytes=4",
    "--",
    device,
  ];
}

/** Parses `od` output (" 1a2b3c4d") into "0x1a2b3c4d"; null when it is not one hex word. */
export function parseDiskIdentifier(stdout: string): string | null {
  const word = stdout.trim();
  if (!/^[0-9a-fA-F]{1,8}$/.test(word)) return null;
  return `0x${word.toLowerCase().padStart(8, "0")}`;
}

/** Reads the disk identifier of `device`; throws `DeploymentError` when it cannot be read. */
export async function readDiskIdentifier(
  runner: Runner,
  device: string,
  options: DiskIdentifierOptions = {},
): Promise<string> {
  const attempts = options.attempts ?? 5;
  const sleep = options.sleep ?? abortableSleep;
  let lastError = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const result = await runner.run("od", odArguments(device), { timeoutMs: 30_000 });
      const identifier = parseDiskIdentifier(result.stdout);
      if (identifier) return identifier;
      lastError = `unexpected od output ${JSON.stringify(result.stdout.slice(0, 100))}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (attempt < attempts) await sleep(options.intervalMs ?? 1000);
  }
  throw new DeploymentError(
    `Unable to read the disk identifier of ${device} after ${attempts} attempts: ${lastError}`,
  );
}
