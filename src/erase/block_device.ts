/**
 * `erase_block_device` of the generic manager (spec 09 §2.1): skip what must not be erased,
 * then try, in order, the drive's own secure erase (NVMe sanitize/format, ATA Security Erase),
 * a discard, and finally an overwrite with shred. Resolves to a report naming the method.
 */
import { BlockDeviceEraseError, reason } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { readSystemFile, resolveLink } from "../system/sysfs.ts";
import { ataErase } from "./ata.ts";
import { eraseKnobs } from "./knobs.ts";
import { nvmeErase } from "./nvme.ts";
import { discardErase, discardSupport, shredDevice } from "./overwrite.ts";
import { probeDevice } from "./probe.ts";

export const VIRTUAL_MEDIA_LABEL = "/dev/disk/by-label/ir-vfd-dev";

/** What happened to one device: the method that erased it, or why it was left alone. */
export interface DeviceEraseReport {
  method: string | null;
  seconds: number;
  skipped?: string;
}

/** What an `eraseBlockDevice` implementation receives besides the node and device. */
export interface EraseBlockDeviceContext {
  log: Logger;
  signal?: AbortSignal;
  /** Announces the method being tried, for `GET /v1/commands/{id}`. */
  progress(method: string): void;
}

/** Why `device` must not be erased, or null (virtual media, RAID member, read-only). */
async function skipReason(
  runner: Runner,
  device: BlockDevice,
  skipReadOnly: boolean,
  log: Logger,
): Promise<string | null> {
  if ((await resolveLink(runner, VIRTUAL_MEDIA_LABEL)) === device.name) {
    return "virtual media device";
  }
  try {
    const probe = await probeDevice(runner, device.name);
    if (probe.some((e) => e.fsTypes.includes("linux_raid_member"))) return "Linux RAID member";
  } catch (err) {
    // As IPA: a device whose membership cannot be checked is treated as a RAID member.
    log.warn("Cannot tell whether the device is a RAID member; not erasing it", { error: err });
    return "Linux RAID member (membership unknown)";
  }
  const kname = device.name.replace(/^\/dev\//, "");
  if ((await readSystemFile(runner, `/sys/class/block/${kname}/ro`))?.trim() === "1") {
    if (skipReadOnly) return "read-only device";
    throw new BlockDeviceEraseError(
      `Failed to invoke erase of device ${device.name} as the device is flagged read-only, and ` +
        "the conductor has not signalled it is permitted to skip read-only devices",
    );
  }
  return null;
}

/** Erases one whole device with the best method it supports. */
export async function eraseBlockDevice(
  runner: Runner,
  node: Node,
  device: BlockDevice,
  ctx: EraseBlockDeviceContext,
): Promise<DeviceEraseReport> {
  const started = performance.now();
  const seconds = () => Math.round((performance.now() - started) / 10) / 100;
  const knobs = eraseKnobs(node);
  const { log, signal } = ctx;
  const skipped = await skipReason(runner, device, knobs.skipReadOnly, log);
  if (skipped) {
    log.info("Not erasing device", { reason: skipped });
    return { method: null, seconds: seconds(), skipped };
  }

  const done = (method: string) => {
    log.info("Device erased", { method, seconds: seconds() });
    return { method, seconds: seconds() };
  };
  try {
    if (device.name.startsWith("/dev/nvme")) {
      if (knobs.enableNvmeSecureErase) {
        return done(await nvmeErase(runner, device.name, { log, signal, onMethod: ctx.progress }));
      }
    } else if (knobs.enableAtaSecureErase) {
      const method = await ataErase(runner, device.name, { log, signal, onMethod: ctx.progress });
      if (method) return done(method);
    }
  } catch (err) {
    if (!(err instanceof BlockDeviceEraseError) || !knobs.continueIfSecureEraseFailed) {
      throw new BlockDeviceEraseError(
        `Failed to invoke secure erase of device ${device.name}, fallback to overwriting is not ` +
          `enabled: ${reason(err)}`,
        { cause: err },
      );
    }
    log.warn("Secure erase failed; falling back to discard or overwrite", { error: reason(err) });
  }

  const support = await discardSupport(runner, device.name);
  if (support.discard) ctx.progress("discard");
  const discarded = await discardErase(runner, device.name, support, {
    log,
    signal,
    timeoutMs: 3_600_000 + Math.ceil(device.size / 20e6) * 1000,
  });
  if (discarded) return done(discarded);

  if (knobs.iterations === 0 && !knobs.zeroize) {
    throw new BlockDeviceEraseError(
      `Cannot erase device ${device.name}: it has no secure erase or discard, and overwriting ` +
        "is configured with 0 iterations and no final zero pass",
    );
  }
  ctx.progress("shred");
  try {
    await shredDevice(runner, device.name, {
      log,
      signal,
      iterations: knobs.iterations,
      zeroize: knobs.zeroize,
      sizeBytes: device.size,
    });
  } catch (err) {
    throw new BlockDeviceEraseError(
      `Overwriting device ${device.name} with shred failed: ${reason(err)}`,
      {
        cause: err,
      },
    );
  }
  return done("shred");
}
