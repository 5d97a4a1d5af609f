/**
 * The partition table after an image write: kernel rescan, "validate partitioning" (spec 08 §2)
 * and "fix GPT" (spec 08 §6.3). Tools run through the Runner: `udevadm`, `partprobe`,
 * `parted` (reads MBR and GPT alike and has a stable machine-readable output) and `sgdisk`.
 */
import { DeploymentError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { abortableSleep, type Sleep } from "./sleep.ts";

export interface PartitionTable {
  /** parted's label type: "gpt", "msdos", "loop" (a bare filesystem), ... */
  type: string;
  /** Partition numbers, in parted's order. */
  partitions: number[];
}

export interface RescanOptions {
  /** `partprobe` tries (IPA `[disk_utils]partprobe_attempts`, 10). */
  partprobeAttempts?: number;
  intervalMs?: number;
  sleep?: Sleep;
  log?: Logger;
}

const TOOL_TIMEOUT_MS = 2 * 60 * 1000;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `udevadm settle`, best effort: a ramdisk without udev still deploys. */
export async function udevSettle(runner: Runner, log?: Logger): Promise<void> {
  try {
    await runner.run("udevadm", ["settle"], { timeoutMs: TOOL_TIMEOUT_MS });
  } catch (err) {
    log?.warn("udevadm settle failed", { error: message(err) });
  }
}

/** Makes the kernel re-read the partition table of `device`; throws the last `partprobe` error. */
export async function rescanDevice(
  runner: Runner,
  device: string,
  options: RescanOptions = {},
): Promise<void> {
  const attempts = options.partprobeAttempts ?? 10;
  const sleep = options.sleep ?? abortableSleep;
  await udevSettle(runner, options.log);
  for (let attempt = 1;; attempt++) {
    try {
      await runner.run("partprobe", [device], { timeoutMs: TOOL_TIMEOUT_MS });
      break;
    } catch (err) {
      if (attempt >= attempts) throw err;
      options.log?.warn("partprobe failed, retrying", { device, attempt, error: message(err) });
      await sleep(options.intervalMs ?? 1000);
    }
  }
  await udevSettle(runner, options.log);
}

/**
 * Parses `parted -s -m <dev> unit MiB print`:
 *
 *   BYT;
 *   /dev/sda:16.0MiB:scsi:512:512:gpt:QEMU HARDDISK:;
 *   1:1.00MiB:3.00MiB:2.00MiB:ext4:root:;
 */
export function parsePartedMachine(stdout: string): PartitionTable | null {
  const lines = stdout.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const header = lines.findIndex((line) => line === "BYT;" || line === "CHS;" || line === "CYL;");
  const disk = lines[header + 1];
  if (header < 0 || disk === undefined) return null;
  const type = disk.split(":")[5];
  if (!type) return null;
  const partitions = lines.slice(header + 2)
    .map((line) => /^(\d+):/.exec(line)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  return { type, partitions };
}

/** Reads the partition table; throws the tool's error when parted finds no valid label. */
export async function readPartitionTable(runner: Runner, device: string): Promise<PartitionTable> {
  const result = await runner.run("parted", ["-s", "-m", device, "unit", "MiB", "print"], {
    timeoutMs: TOOL_TIMEOUT_MS,
  });
  const table = parsePartedMachine(result.stdout);
  if (!table) {
    throw new Error(`cannot parse parted output ${JSON.stringify(result.stdout.slice(0, 300))}`);
  }
  return table;
}

/**
 * Spec 08 §2 "validate partitioning": after writing a whole-disk image the device must carry a
 * readable partition table with at least one partition; otherwise the image was not a disk
 * image (or is corrupt) and the node would not boot. Throws `DeploymentError`.
 */
export async function validatePartitioning(
  runner: Runner,
  device: string,
  options: RescanOptions = {},
): Promise<PartitionTable> {
  let table: PartitionTable;
  try {
    await rescanDevice(runner, device, options);
    table = await readPartitionTable(runner, device);
  } catch (err) {
    throw new DeploymentError(
      `Unable to find a valid partition table on the disk after writing the image. The image ` +
        `may be corrupted. Error: ${message(err)}`,
      { cause: err },
    );
  }
  // parted reports a bare filesystem as a "loop" label with one partition; IPA counts that as a
  // partition and so do we, to accept what IPA accepts.
  if (table.partitions.length === 0) {
    throw new DeploymentError(
      `No partitions found on the device ${device} after writing the image.`,
    );
  }
  return table;
}

/** sgdisk's complaint when the backup GPT is not at the end of a larger disk. */
const BACKUP_NOT_AT_END = /doesn't reside\s+at the end of the disk/;

/**
 * Spec 08 §6.3: on a GPT disk whose backup header is not at the end (an image smaller than the
 * disk), move the backup structures to the end with `sgdisk -e`. Returns whether it changed
 * anything. Throws `DeploymentError`; `prepare_image` only logs it, the config-drive path fails.
 */
export async function fixGpt(
  runner: Runner,
  device: string,
  options: RescanOptions = {},
): Promise<boolean> {
  try {
    const table = await readPartitionTable(runner, device);
    if (table.type !== "gpt") return false;
    const verify = await runner.run("sgdisk", ["-v", device], { timeoutMs: TOOL_TIMEOUT_MS });
    if (!BACKUP_NOT_AT_END.test(verify.stdout)) return false;
    options.log?.info("Moving the backup GPT to the end of the disk", { device });
    await runner.run("sgdisk", ["-e", device], { timeoutMs: TOOL_TIMEOUT_MS });
    await rescanDevice(runner, device, options);
    return true;
  } catch (err) {
    throw new DeploymentError(`Failed to fix GPT partition on disk ${device}: ${message(err)}`, {
      cause: err,
    });
  }
}
