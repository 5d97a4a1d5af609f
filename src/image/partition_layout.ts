/**
 * The partition layout of a partition image (spec 08 §7, IPA's `make_partitions`): which
 * partitions, in which order, with which sizes and flags, and the one `parted` call that creates
 * them. Pure: no tool runs here.
 */
import type { BootMode, DiskLabel } from "./boot_mode.ts";

/** The keys IPA uses in the `partitions` map of the result (spec 08 §7 step 9). */
export type PartitionRole =
  | "efi system partition"
  | "BIOS Boot partition"
  | "ephemeral"
  | "swap"
  | "configdrive"
  | "root";

export interface PlannedPartition {
  role: PartitionRole;
  /** 1-based partition number. */
  number: number;
  startMiB: number;
  endMiB: number;
  /** parted's file-system type hint for `mkpart` (it writes no filesystem). */
  fsHint: string;
  flags: string[];
}

export interface LayoutRequest {
  rootMiB: number;
  swapMiB: number;
  ephemeralMiB: number;
  /** Bytes of the decoded config drive, 0 = none. */
  configDriveBytes: number;
  bootMode: BootMode;
  label: DiskLabel;
  /** `[disk_utils]efi_system_partition_size` (550). */
  espMiB?: number;
  /** `[disk_utils]bios_boot_partition_size` (1). */
  biosBootMiB?: number;
}

const MIB = 1024 * 1024;

/** Plans the partitions from 1 MiB on, each right after the previous one, root last. */
export function planLayout(request: LayoutRequest): PlannedPartition[] {
  for (const key of ["rootMiB", "swapMiB", "ephemeralMiB", "configDriveBytes"] as const) {
    const value = request[key];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`Cannot plan partitions: ${key} must be a non-negative integer`);
    }
  }
  const label: DiskLabel = request.bootMode === "uefi" ? "gpt" : request.label;
  const wanted: [PartitionRole, number, string, string[]][] = [];
  if (request.bootMode === "uefi") {
    wanted.push(["efi system partition", request.espMiB ?? 550, "fat32", ["boot"]]);
  } else if (label === "gpt") {
    wanted.push(["BIOS Boot partition", request.biosBootMiB ?? 1, "", ["bios_grub"]]);
  }
  if (request.ephemeralMiB > 0) wanted.push(["ephemeral", request.ephemeralMiB, "", []]);
  if (request.swapMiB > 0) wanted.push(["swap", request.swapMiB, "linux-swap", []]);
  if (request.configDriveBytes > 0) {
    wanted.push(["configdrive", Math.ceil(request.configDriveBytes / MIB), "", []]);
  }
  // msdos never needs more than 4 primaries here: ephemeral, swap, config drive, root.
  const rootFlags = request.bootMode === "bios" && label === "msdos" ? ["boot"] : [];
  wanted.push(["root", request.rootMiB, "", rootFlags]);
  let start = 1;
  return wanted.map(([role, size, fsHint, flags], i) => {
    const part = { role, number: i + 1, startMiB: start, endMiB: start + size, fsHint, flags };
    start += size;
    return part;
  });
}

/** The single `parted` call that writes the label and every planned partition. */
export function partedArguments(
  device: string,
  label: DiskLabel,
  plan: readonly PlannedPartition[],
): string[] {
  const args = ["-a", "optimal", "-s", device, "--", "unit", "MiB", "mklabel", label];
  for (const part of plan) {
    args.push("mkpart", "primary");
    if (part.fsHint) args.push(part.fsHint);
    args.push(String(part.startMiB), String(part.endMiB));
    for (const flag of part.flags) args.push("set", String(part.number), flag, "on");
  }
  return args;
}

/** MiB the layout needs on the disk: the end of the last partition, plus the backup GPT. */
export function layoutMiB(plan: readonly PlannedPartition[], label: DiskLabel): number {
  return (plan.at(-1)?.endMiB ?? 1) + (label === "gpt" ? 1 : 0);
}
