/**
 * The partition-image side of `prepare_image` (spec 08 §7): plans the layout from `image_info`
 * and the node, refuses what cannot fit before the disk is touched, and hands the streamed write
 * a `prepareTarget` that lays the disk out once (retried downloads reuse it) and returns the root
 * partition.
 */
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import {
  type BootMode,
  type BootModeNode,
  type DiskLabel,
  diskLabel,
  nodeBootMode,
} from "../image/boot_mode.ts";
import type { ImageInfo } from "../image/image_info.ts";
import {
  checkRootSize,
  createPartitionLayout,
  partitionParams,
  type PartitionPaths,
} from "../image/partition_image.ts";
import { layoutMiB, planLayout } from "../image/partition_layout.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";

const MIB = 1024 * 1024;

export interface PartitionTarget {
  bootMode: BootMode;
  label: DiskLabel;
  prepareTarget(found: { format: string; bytes: number | null }): Promise<string>;
  /** The laid-out partitions, or null when the write never got that far. */
  paths(): Promise<PartitionPaths> | null;
}

export interface PartitionTargetOptions {
  runner: Runner;
  log: Logger;
  info: ImageInfo;
  node: Node | null;
  device: string;
  deviceBytes: number | null;
  bootedUefi: boolean;
  configDrive: Uint8Array | null;
  rebuildConfigDrive: boolean;
}

/** Plans a partition-image deploy; throws `InvalidCommandParamsError` before any write. */
export function planPartitionTarget(options: PartitionTargetOptions): PartitionTarget {
  const { info, log } = options;
  const params = partitionParams(info);
  const node = options.node as BootModeNode | null;
  const bootMode = nodeBootMode(node, { info, bootedUefi: options.bootedUefi });
  const label = diskLabel(node, { info, bootMode });
  const plan = planLayout({
    rootMiB: params.rootMiB,
    swapMiB: params.swapMiB,
    ephemeralMiB: params.ephemeralMiB,
    configDriveBytes: options.configDrive?.length ?? 0,
    bootMode,
    label,
  });
  const needMiB = layoutMiB(plan, label);
  if (options.deviceBytes !== null && needMiB * MIB > options.deviceBytes) {
    throw new InvalidCommandParamsError(
      `Cannot deploy partition image ${info.id}: the layout needs ${needMiB} MiB but device ` +
        `${options.device} has ${Math.floor(options.deviceBytes / MIB)} MiB`,
    );
  }
  log.info("partition image planned", { device: options.device, boot_mode: bootMode, label });
  let layout: Promise<PartitionPaths> | null = null;
  return {
    bootMode,
    label,
    paths: () => layout,
    async prepareTarget(found) {
      if (found.bytes === null) {
        log.warn("image size unknown before writing: the root size is checked by the write", {
          format: found.format,
          root_mb: params.rootMiB,
        });
      } else {
        checkRootSize(found.bytes, params.rootMiB);
      }
      layout ??= createPartitionLayout(options.runner, options.device, {
        log,
        label,
        plan,
        params,
        configDrive: options.configDrive,
        rebuildConfigDrive: options.rebuildConfigDrive,
      });
      const root = (await layout).root;
      if (!root) throw new TypeError("partition plan without a root partition");
      return root;
    },
  };
}
