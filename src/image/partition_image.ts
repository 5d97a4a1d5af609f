/**
 * Partition images (spec 08 §7, IPA's `work_on_disk`): parameters from `image_info`, the root
 * size check, laying out and formatting the disk, and the partition UUIDs of the result. The root
 * partition itself is filled by the streamed image write (`write_raw.ts` `prepareTarget`).
 *
 * UUIDs come from `blkid -p` (a direct probe) rather than IPA's `lsblk`, which reads the udev
 * database: stale right after repartitioning, and empty where udev does not run.
 */
import { z } from "zod";
import { DeploymentError, InvalidCommandParamsError } from "../api/errors.ts";
import { destroyDiskMetadata, waitForDeviceRelease } from "../erase/destroy.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { pathExists } from "../system/sysfs.ts";
import { partitionPath, probePartition } from "./config_drive_partition.ts";
import { writeConfigDrive } from "./config_drive_write.ts";
import type { ImageInfo } from "./image_info.ts";
import { partedArguments, type PartitionRole, type PlannedPartition } from "./partition_layout.ts";
import type { DiskLabel } from "./boot_mode.ts";
import { rescanDevice } from "./partition_table.ts";
import { abortableSleep, type Sleep } from "./sleep.ts";

const MIB = 1024 * 1024;
const TOOL_TIMEOUT_MS = 10 * 60 * 1000;

/** Ephemeral filesystems this agent formats (`mkfs -t <type>`); others are refused up front. */
export const EPHEMERAL_FORMATS = ["ext2", "ext3", "ext4", "xfs", "vfat", "btrfs"] as const;

/** A size in MiB: the conductor sends integers, root_gb-derived values may be strings. */
function mib(required: boolean) {
  const message = required ? "a positive integer (MiB)" : "a non-negative integer (MiB)";
  return z.unknown().optional().transform((value, ctx) => {
    if (!required && (value === null || value === undefined)) return 0;
    const n = typeof value === "number"
      ? value
      : typeof value === "string" && /^\s*\d+\s*$/.test(value)
      ? Number(value)
      : NaN;
    if (!Number.isSafeInteger(n) || n < 0 || (required && n === 0)) {
      ctx.addIssue({ code: "custom", message });
      return z.NEVER;
    }
    return n;
  });
}

const PartitionParamsSchema = z.object({
  root_mb: mib(true),
  swap_mb: mib(false),
  ephemeral_mb: mib(false),
  ephemeral_format: z.enum(EPHEMERAL_FORMATS, {
    error: `one of ${EPHEMERAL_FORMATS.join(", ")}`,
  }).nullish(),
  preserve_ephemeral: z.boolean({ error: "a boolean" }).nullish(),
});

export interface PartitionParams {
  rootMiB: number;
  swapMiB: number;
  ephemeralMiB: number;
  ephemeralFormat: (typeof EPHEMERAL_FORMATS)[number];
  preserveEphemeral: boolean;
}

/** The partition-image fields of `image_info`; a 400 naming the field and value when wrong. */
export function partitionParams(info: ImageInfo): PartitionParams {
  const parsed = PartitionParamsSchema.safeParse(info);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = String(issue.path[0] ?? "");
    throw new InvalidCommandParamsError(
      `Cannot deploy partition image ${info.id}: image_info.${field} must be ${issue.message}, ` +
        `got ${JSON.stringify((info as Record<string, unknown>)[field]) ?? "nothing"}`,
    );
  }
  const p = parsed.data;
  return {
    rootMiB: p.root_mb,
    swapMiB: p.swap_mb,
    ephemeralMiB: p.ephemeral_mb,
    ephemeralFormat: p.ephemeral_format ?? "ext4",
    preserveEphemeral: p.preserve_ephemeral ?? false,
  };
}

/** IPA's check, run before the disk is touched: the image must fit the root partition. */
export function checkRootSize(imageBytes: number, rootMiB: number): void {
  const imageMiB = Math.ceil(imageBytes / MIB);
  if (imageMiB > rootMiB) {
    throw new InvalidCommandParamsError(
      `Root partition is too small for requested image. Image virtual size: ${imageMiB} MB, ` +
        `Root size: ${rootMiB} MB`,
    );
  }
}

export interface LayoutOptions {
  log: Logger;
  label: DiskLabel;
  plan: readonly PlannedPartition[];
  params: PartitionParams;
  /** The decoded config drive, written into its partition; null = none. */
  configDrive: Uint8Array | null;
  /** `config_drive_rebuild`. */
  rebuildConfigDrive: boolean;
  sleep?: Sleep;
  /** `fuser` checks after partitioning (IPA: 20, 1 s apart). */
  busyAttempts?: number;
}

/** Partition path per role, for the roles the plan has. */
export type PartitionPaths = Partial<Record<PartitionRole, string>>;

async function waitForPartitions(
  runner: Runner,
  paths: readonly string[],
  sleep: Sleep,
): Promise<void> {
  for (const path of paths) {
    for (let attempt = 1;; attempt++) {
      if (await pathExists(runner, path)) break;
      if (attempt >= 3) {
        throw new DeploymentError(
          `Cannot deploy partition image: partition ${path} did not appear`,
        );
      }
      await sleep(1000);
    }
  }
}

async function mkfs(runner: Runner, fs: string, args: string[], partition: string) {
  try {
    await runner.run("mkfs", ["-t", fs, ...args, partition], { timeoutMs: TOOL_TIMEOUT_MS });
  } catch (err) {
    throw new DeploymentError(
      `Cannot create a ${fs} filesystem on ${partition}: ${
        err instanceof Error ? err.message : err
      }`,
      { cause: err },
    );
  }
}

/**
 * Destroys the old metadata (unless preserving the ephemeral partition, which also keeps the
 * partition table), writes the planned table, then formats the ESP, swap and ephemeral
 * partitions and writes the config drive. Resolves to the partition paths.
 */
export async function createPartitionLayout(
  runner: Runner,
  device: string,
  options: LayoutOptions,
): Promise<PartitionPaths> {
  const { log, plan, params } = options;
  const sleep = options.sleep ?? abortableSleep;
  const paths: PartitionPaths = {};
  for (const part of plan) paths[part.role] = partitionPath(device, part.number);
  if (params.preserveEphemeral) {
    log.info("preserving the ephemeral partition: the partition table is kept", { device });
  } else {
    await destroyDiskMetadata(runner, device, { log, sleep });
    log.info("creating the partition layout", {
      device,
      label: options.label,
      partitions: plan.map((p) => `${p.number}:${p.role}:${p.startMiB}-${p.endMiB}MiB`).join(","),
    });
    await runner.run("parted", partedArguments(device, options.label, plan), {
      timeoutMs: TOOL_TIMEOUT_MS,
    });
  }
  await runner.run("sync", [], { timeoutMs: TOOL_TIMEOUT_MS });
  await rescanDevice(runner, device, { log, sleep });
  await waitForDeviceRelease(runner, device, {
    log,
    sleep,
    busyWait: { attempts: options.busyAttempts ?? 20, intervalMs: 1000 },
  });
  await waitForPartitions(runner, Object.values(paths), sleep);

  const esp = paths["efi system partition"];
  if (esp) await mkfs(runner, "vfat", ["-n", "efi-part"], esp);
  if (paths.configdrive && options.configDrive) {
    const written = await writeConfigDrive(runner, paths.configdrive, options.configDrive, {
      log,
      rebuild: options.rebuildConfigDrive,
    });
    log.info("config drive written", { partition: paths.configdrive, ...written });
  }
  if (paths.swap) {
    try {
      await runner.run("mkswap", ["-L", "swap1", paths.swap], { timeoutMs: TOOL_TIMEOUT_MS });
    } catch (err) {
      throw new DeploymentError(`Cannot create swap on ${paths.swap}: ${err}`, { cause: err });
    }
  }
  if (paths.ephemeral && !params.preserveEphemeral) {
    const fs = params.ephemeralFormat;
    const force = fs === "ext3" || fs === "ext4" ? ["-F"] : [];
    await mkfs(runner, fs, [...force, "-L", "ephemeral0"], paths.ephemeral);
  }
  await rescanDevice(runner, device, { log, sleep });
  return paths;
}

/** Filesystem UUID, else partition UUID, else "" (spec 08 §2, §7 step 9). */
export async function partitionUuid(runner: Runner, partition: string): Promise<string> {
  const fields = await probePartition(runner, partition);
  return fields.UUID ?? fields.PART_ENTRY_UUID ?? "";
}

/** The `standby.get_partition_uuids` value of a partition image (IPA's `work_on_disk` result). */
export async function partitionImageUuids(
  runner: Runner,
  paths: PartitionPaths,
): Promise<Record<string, unknown>> {
  const esp = paths["efi system partition"];
  return {
    "root uuid": paths.root ? await partitionUuid(runner, paths.root) : null,
    "efi system partition uuid": esp ? await partitionUuid(runner, esp) : null,
    partitions: { ...paths },
  };
}
