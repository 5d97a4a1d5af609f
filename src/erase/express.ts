/**
 * The `erase_devices_express` clean step (spec 09 §4): a fast erase for fleets of NVMe drives.
 * Each erasable device (the `erase_devices_metadata` selection) gets the controller's own
 * erase when it is NVMe and NVMe secure erase is enabled; every other device, and an NVMe
 * device whose erase failed, has its metadata destroyed instead. Failures are collected and
 * reported together once every device has been tried.
 */
import { BlockDeviceEraseError, reason } from "../api/errors.ts";
import { destroyDiskMetadata } from "./destroy.ts";
import { listErasableDevices } from "./erasable.ts";
import { eraseKnobs } from "./knobs.ts";
import type { EraseDevicesMetadataOptions } from "./metadata.ts";
import { nvmeErase } from "./nvme.ts";
import { assertMayEraseAll } from "./preflight.ts";

export interface EraseDevicesExpressOptions extends EraseDevicesMetadataOptions {
  signal?: AbortSignal;
}

/** How each device was erased: an NVMe method name or `metadata`. */
export type ExpressReport = Record<string, string>;

/** Erases every erasable device the express way; resolves to the method used per device. */
export async function eraseDevicesExpress(
  options: EraseDevicesExpressOptions,
): Promise<ExpressReport> {
  const { runner, log, node } = options;
  const knobs = eraseKnobs(node);
  const erasable = await listErasableDevices(runner, options);
  await assertMayEraseAll(options, erasable, "erase");
  log.info("Express erasure of block devices", {
    devices: erasable.map((e) => e.device.name).join(",") || "none",
  });

  const report: ExpressReport = {};
  const failures: string[] = [];
  for (const { device } of erasable) {
    if (options.signal?.aborted) {
      throw new BlockDeviceEraseError(
        `Express erasure was aborted before device ${device.name} was erased`,
      );
    }
    const deviceLog = log.with({ device: device.name });
    let nvmeError: string | null = null;
    // Partitions of an NVMe namespace (nvme0n1p1) are wiped with their namespace's format.
    if (/^\/dev\/nvme\d+n\d+$/.test(device.name) && knobs.enableNvmeSecureErase) {
      try {
        report[device.name] = await nvmeErase(runner, device.name, {
          log: deviceLog,
          signal: options.signal,
        });
        continue;
      } catch (err) {
        nvmeError = reason(err);
        deviceLog.warn("NVMe erase failed; destroying the metadata instead", { error: nvmeError });
      }
    }
    try {
      await destroyDiskMetadata(runner, device.name, {
        log: deviceLog,
        busyWait: options.busyWait,
        sleep: options.sleep,
      });
      report[device.name] = "metadata";
    } catch (err) {
      deviceLog.error("Destroying the metadata failed", { error: reason(err) });
      const both = nvmeError ? `${nvmeError}; then ${reason(err)}` : reason(err);
      failures.push(`"${device.name}": ${both}`);
    }
  }
  if (failures.length > 0) {
    throw new BlockDeviceEraseError(
      `Failed to conduct an express erase on the device(s): ${failures.join("; ")}`,
    );
  }
  return report;
}
