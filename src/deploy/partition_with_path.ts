/**
 * Partitions of the install device for `inject_files` (spec 08 §12): the path of partition
 * number N, and the search for the partition that holds a given top-level directory (IPA
 * `disk_utils.list_partitions` + `inject_files.find_partition_with_path`).
 *
 * The search lists partitions with `parted -s -m <dev> unit MiB print`, skips those flagged
 * `lvm`, and mounts each of the others read-only in turn to look for the directory (following
 * links inside the partition only). Partitions that cannot be mounted (swap, no file system) are
 * skipped with a warning. The caller mounts the winner again, read-write, to write.
 */
import { DeviceNotFound } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { resolveInRoot } from "./root_path.ts";
import { UnmountError, withTempMount } from "./temp_mount.ts";

export interface PartedPartition {
  number: number;
  /** parted's file-system column (`ext4`, `linux-swap(v1)`, or empty). */
  filesystem: string;
  /** parted's flags column (`boot, esp`, `lvm`, or empty). */
  flags: string;
}

/** IPA's `_PARTED_PRINT_RE`: `1:1.00MiB:501MiB:500MiB:ext4::boot;`. */
const PARTED_LINE = /^(\d+):([\d.]+)MiB:([\d.]+)MiB:([\d.]+)MiB:(\w*):(.*):(.*);/;

/** Parses `parted -s -m <dev> unit MiB print`; lines that do not match are dropped. */
export function parsePartedPartitions(stdout: string): PartedPartition[] {
  const lines = stdout.split("\n").filter((line) => line.trim() !== "").slice(2);
  const partitions: PartedPartition[] = [];
  for (const line of lines) {
    const match = PARTED_LINE.exec(line.trim());
    if (!match) continue;
    partitions.push({ number: Number(match[1]), filesystem: match[5]!, flags: match[7]! });
  }
  return partitions;
}

/**
 * The device path of partition `number` of `device`: `<dev>p<n>` when the device name ends in
 * a digit (`nvme0n1p1`, `loop0p1`, `mmcblk0p1`, `md0p1`), else `<dev><n>` (`sda1`). IPA adds
 * the `p` only for NVMe names; the kernel's rule also covers loop, MMC and md devices.
 */
export function partitionPath(device: string, number: number): string {
  return /\d$/.test(device) ? `${device}p${number}` : `${device}${number}`;
}

export interface FindPartitionOptions {
  log: Logger;
  /** Injected for tests; defaults to `withTempMount`. */
  mount?: typeof withTempMount;
}

/** Whether `name` is a directory at the top of the file system mounted on `dir`. */
async function holdsDirectory(dir: string, name: string): Promise<boolean> {
  const resolved = await resolveInRoot(dir, [name]);
  if (resolved.missing.length) return false;
  return (await Deno.stat(resolved.existing)).isDirectory;
}

/**
 * The first partition of `device` (in parted's order, LVM ones skipped) whose file system has
 * the top-level directory `name`. Throws `DeviceNotFound` when none has it.
 */
export async function findPartitionWithPath(
  runner: Runner,
  device: string,
  name: string,
  options: FindPartitionOptions,
): Promise<string> {
  const { log } = options;
  const mount = options.mount ?? withTempMount;
  const { stdout } = await runner.run("parted", ["-s", "-m", device, "unit", "MiB", "print"], {
    timeoutMs: 2 * 60 * 1000,
  });
  const partitions = parsePartedPartitions(stdout);
  for (const partition of partitions) {
    const path = partitionPath(device, partition.number);
    if (partition.flags.includes("lvm")) {
      log.debug("skipping LVM partition", { partition: path });
      continue;
    }
    let found = false;
    try {
      found = await mount(
        runner,
        path,
        { log, readOnly: true },
        (dir) => holdsDirectory(dir, name),
      );
    } catch (err) {
      // A partition left mounted is not skipped over: the step stops.
      if (err instanceof UnmountError) throw err;
      log.warn("could not inspect partition", {
        partition: path,
        error: err instanceof Error ? err.message : String(err),
      });
      continue;
    }
    if (found) {
      log.info("directory found on partition", { directory: `/${name}`, partition: path });
      return path;
    }
  }
  throw new DeviceNotFound(
    `No partition found with path /${name} on device ${device}, scanned: ${
      partitions.map((p) => partitionPath(device, p.number)).join(", ") || "no partitions"
    }`,
  );
}
