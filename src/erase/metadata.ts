/**
 * The `erase_devices_metadata` step (spec 09 §3): wipe partition tables and signatures from
 * every erasable device. The shared-filesystem guard runs for every device before the first
 * one is touched, so a protected volume anywhere aborts the step with nothing erased.
 */
import { BlockDeviceEraseError, reason } from "../api/errors.ts";
import { type BusyWait, destroyDiskMetadata } from "./destroy.ts";
import { listErasableDevices } from "./erasable.ts";
import { assertMayEraseAll, type EraseStepOptions } from "./preflight.ts";

export interface EraseDevicesMetadataOptions extends EraseStepOptions {
  /** Devices to keep with everything on them (RAID volumes kept by spec 12). */
  excludeDevices?: readonly string[];
  /** Waiting for a wiped device to be released (default 20 x 1 s). */
  busyWait?: BusyWait;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Erases the metadata of every erasable device; collects failures into one error. Resolves to
 * nothing: the step's result on the wire is `null`.
 */
export async function eraseDevicesMetadata(options: EraseDevicesMetadataOptions): Promise<void> {
  const { runner, log } = options;
  const erasable = await listErasableDevices(runner, options);
  await assertMayEraseAll(options, erasable, "erase the metadata of");
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
