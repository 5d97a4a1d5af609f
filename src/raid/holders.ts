/**
 * Boot partitions added to the holder disks of a software RAID install device (spec 12 §7):
 * one 550 MiB ESP member (`uefi-holder-<i>`, type ef00) or one 2 MiB BIOS boot partition
 * (`bios-boot-part-<i>`, type ef02) per holder, in the first free space `sgdisk -F` reports,
 * the space `raid.create_configuration` left in front of the RAID partitions.
 *
 * The new partition is found again by its GPT name in `sgdisk -p` (the table itself), not
 * through udev, which need not run in the ramdisk; an existing partition of that name is
 * reused, so a second `install_bootloader` does not add another.
 */
import { SoftwareRAIDError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { partitionName } from "./mdadm.ts";

const TOOL_TIMEOUT_MS = 2 * 60 * 1000;

export interface GptEntry {
  number: number;
  startSector: number;
  endSector: number;
  /** Type code as sgdisk prints it (`EF00`). */
  code: string;
  /** GPT partition name (may be empty). */
  name: string;
}

/** Partition rows of `sgdisk -p <disk>`. */
export function parseSgdiskPrint(stdout: string): GptEntry[] {
  const table = stdout.split(/^Number\s+Start \(sector\)\s+End \(sector\).*$/m)[1] ?? "";
  const entries: GptEntry[] = [];
  for (const line of table.split("\n")) {
    // "   2            2048         1128447   550.0 MiB   EF00  uefi-holder-0"
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+([0-9A-F]{4})\s*(.*)$/.exec(line);
    if (!m) continue;
    entries.push({
      number: Number(m[1]),
      startSector: Number(m[2]),
      endSector: Number(m[3]),
      code: m[4]!,
      name: m[5]!.trim(),
    });
  }
  return entries;
}

export interface HolderPartitionSpec {
  /** `+550MiB`, `+2MiB`. */
  size: string;
  /** sgdisk type code: `ef00`, `ef02`. */
  typeCode: string;
  /** GPT name; unique per disk. */
  name: string;
}

async function gptEntries(runner: Runner, disk: string): Promise<GptEntry[]> {
  const { stdout } = await runner.run("sgdisk", ["-p", disk], { timeoutMs: TOOL_TIMEOUT_MS });
  return parseSgdiskPrint(stdout);
}

/**
 * The partition named `spec.name` on `disk`, created in the first free space when missing.
 * Resolves to its device path (`/dev/vda2`).
 */
export async function ensureHolderPartition(
  runner: Runner,
  disk: string,
  spec: HolderPartitionSpec,
  log: Logger,
): Promise<string> {
  const existing = (await gptEntries(runner, disk)).find((e) => e.name === spec.name);
  if (existing) {
    log.info("Reusing a boot partition on a RAID holder disk", { disk, name: spec.name });
    return partitionName(disk, existing.number);
  }
  const free = await runner.run("sgdisk", ["-F", disk], { timeoutMs: TOOL_TIMEOUT_MS });
  const start = free.stdout.trim().split(/\s+/).at(-1) ?? "";
  if (!/^\d+$/.test(start)) {
    throw new SoftwareRAIDError(
      `Cannot add boot partition ${spec.name} to RAID holder ${disk}: sgdisk -F printed ` +
        JSON.stringify(free.stdout.trim()),
    );
  }
  log.info("Adding a boot partition to a RAID holder disk", {
    disk,
    name: spec.name,
    start_sector: start,
    size: spec.size,
  });
  await runner.run("sgdisk", [
    "-n",
    `0:${start}s:${spec.size}`,
    "-t",
    `0:${spec.typeCode}`,
    "-c",
    `0:${spec.name}`,
    disk,
  ], { timeoutMs: TOOL_TIMEOUT_MS });
  const created = (await gptEntries(runner, disk)).find((e) => e.name === spec.name);
  if (!created) {
    throw new SoftwareRAIDError(
      `Cannot find boot partition ${spec.name} on RAID holder ${disk} after creating it`,
    );
  }
  // The kernel learns about the new partition; exit 1 means nothing changed.
  await runner.run("partx", ["-u", disk], { timeoutMs: TOOL_TIMEOUT_MS, okCodes: [0, 1] });
  await runner.run("udevadm", ["settle"], { timeoutMs: TOOL_TIMEOUT_MS })
    .catch((err) => log.warn("udevadm settle failed", { error: err }));
  return partitionName(disk, created.number);
}

/** The partition table type of `disk` as parted names it (`gpt`, `msdos`), or null. */
export async function partitionTableType(runner: Runner, disk: string): Promise<string | null> {
  const { stdout } = await runner.run("parted", ["-s", "-m", disk, "print"], {
    timeoutMs: TOOL_TIMEOUT_MS,
    okCodes: [0, 1],
  });
  const line = stdout.split("\n").find((l) => l.startsWith(`${disk}:`));
  return line?.split(":")[5] ?? null;
}
