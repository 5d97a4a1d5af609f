/**
 * The `erase_devices_metadata` step (spec 09 §3): wipe partition tables and signatures from
 * every erasable device. The shared-filesystem guard runs for every device before the first
 * one is touched, so a protected volume anywhere aborts the step with nothing erased.
 */
import { AgentError, BlockDeviceEraseError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { assertMayWrite, type FenceOptions } from "../system/fence.ts";
import { type BusyWait, destroyDiskMetadata } from "./destroy.ts";
import { listErasableDevices } from "./erasable.ts";
import { checkProbedDevice, guardEnabled } from "./safety.ts";

export interface EraseDevicesMetadataOptions {
  runner: Runner;
  log: Logger;
  node: Node;
  /** `--only-block-devices`: non-empty restricts erasure to exactly these paths. */
  onlyBlockDevices: readonly string[];
  /** Agent option `guard-special-filesystems`. */
  guardSpecialFilesystems: boolean;
  /** `--protect-host` fence: refuse (before touching anything) devices it does not allow. */
  fence?: FenceOptions;
  /** Devices to keep with everything on them (RAID volumes kept by spec 12). */
  excludeDevices?: readonly string[];
  /** Waiting for a wiped device to be released (default 20 x 1 s). */
  busyWait?: BusyWait;
  sleep?: (ms: number) => Promise<void>;
}

function reason(err: unknown): string {
  if (err instanceof AgentError) return err.details || err.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Erases the metadata of every erasable device; collects failures into one error. Resolves to
 * nothing: the step's result on the wire is `null`.
 */
export async function eraseDevicesMetadata(options: EraseDevicesMetadataOptions): Promise<void> {
  const { runner, log, node } = options;
  const erasable = await listErasableDevices(runner, {
    log,
    node,
    onlyBlockDevices: options.onlyBlockDevices,
    excludeDevices: options.excludeDevices,
  });
  // Every refusal happens before any device is touched.
  if (options.fence) {
    for (const { device } of erasable) {
      assertMayWrite(options.fence, device.name, "erase the metadata of");
    }
  }
  if (guardEnabled(node, options.guardSpecialFilesystems)) {
    for (const { device, probe } of erasable) checkProbedDevice(device.name, probe);
  }
  log.info("Erasing metadata of block devices", {
    devices: erasable.map((e) => e.device.name).join(",") || "none",
  });

  const failures: string[] = [];
  for (const { device } of erasable) {
    const deviceLog = log.with({ device: device.name });
    deviceLog.info("Erasing block device metadata");
    try {
      await destroyDiskMetadata(runner, device.name, {
        log: deviceLog,
        busyWait: options.busyWait,
        sleep: options.sleep,
      });
    } catch (err) {
      deviceLog.error("Failed to erase the metadata on the device", { error: reason(err) });
      failures.push(`"${device.name}": ${reason(err)}`);
    }
  }
  if (failures.length > 0) {
    throw new BlockDeviceEraseError(
      `Failed to erase the metadata on the device(s): ${failures.join("; ")}`,
    );
  }
}
