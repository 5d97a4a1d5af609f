/**
 * The `erase_devices` clean step (spec 09 §2): every disk except skip-listed ones is erased by
 * the best manager's `eraseBlockDevice`, up to `disk_erasure_concurrency` at a time (software
 * RAID volumes the skip list keeps by name, and their holder disks, are skipped too). Every
 * device passes the fence and the shared-filesystem guard before the first one is touched, so
 * one refusal leaves all disks as they were.
 */
import { AgentError, BlockDeviceEraseError, reason } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { InvalidRootDeviceHintError } from "../hints/root_device.ts";
import { findSkippedDevices, getSkipList } from "../hints/skip_list.ts";
import { listBlockDevices } from "../inventory/block_devices.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { DeviceEraseReport, EraseBlockDeviceContext } from "./block_device.ts";
import { eraseKnobs } from "./knobs.ts";
import { assertMayEraseAll, type EraseStepOptions } from "./preflight.ts";

/** Live state of one device, published through the step's `progress()`. */
export interface DeviceProgress {
  state: "queued" | "erasing" | "done" | "skipped" | "failed";
  method?: string | null;
  seconds?: number;
  error?: string;
}

export interface EraseDevicesOptions extends EraseStepOptions {
  signal?: AbortSignal;
  progress?(report: Record<string, unknown>): void;
  /** Devices left alone as a skip-listed one (RAID volumes and holders kept by spec 12). */
  excludeDevices?: readonly string[];
  /** Erases one device: the dispatcher's `eraseBlockDevice` (best manager first). */
  eraseBlockDevice(
    node: Node,
    device: BlockDevice,
    ctx: EraseBlockDeviceContext,
  ): Promise<DeviceEraseReport | null>;
}

/** Disks to erase: the listing minus skip-listed devices (spec 09 §2 step 1). */
async function selectDisks(options: EraseDevicesOptions): Promise<BlockDevice[]> {
  const disks = await listBlockDevices(options.runner, {
    onlyBlockDevices: options.onlyBlockDevices,
    allValues: true,
    log: options.log,
  });
  let skipList;
  try {
    skipList = getSkipList(options.node);
  } catch (err) {
    if (!(err instanceof InvalidRootDeviceHintError)) throw err;
    throw new BlockDeviceEraseError(`Cannot erase devices, nothing was erased: ${err.message}`, {
      cause: err,
    });
  }
  const skipped = new Set(findSkippedDevices(disks, skipList, options.log).map((d) => d.name));
  for (const name of options.excludeDevices ?? []) {
    if (!disks.some((d) => d.name === name)) continue;
    options.log.info("Skipping erasure of a device under a kept software RAID volume", {
      device: name,
    });
    skipped.add(name);
  }
  return disks.filter((d) => !skipped.has(d.name));
}

/**
 * Erases every selected disk; resolves to `{device: {method, seconds}}`. Fails with the first
 * device's error once all running erasures have ended (none is left half-way by the step).
 */
export async function eraseDevices(
  options: EraseDevicesOptions,
): Promise<Record<string, DeviceEraseReport | null>> {
  const { log, node } = options;
  const knobs = eraseKnobs(node);
  const disks = await selectDisks(options);
  if (disks.length === 0) {
    log.info("No block devices to erase");
    return {};
  }
  await assertMayEraseAll(options, disks.map((device) => ({ device })), "erase");

  const state: Record<string, DeviceProgress> = {};
  for (const disk of disks) state[disk.name] = { state: "queued" };
  const publish = () => options.progress?.({ devices: structuredClone(state) });
  publish();

  const workers = Math.min(knobs.concurrency, disks.length);
  log.info("Erasing block devices", { devices: disks.map((d) => d.name).join(","), workers });
  const results: Record<string, DeviceEraseReport | null> = {};
  const failures: { device: string; error: unknown }[] = [];
  const queue = [...disks];

  async function worker(): Promise<void> {
    for (let disk = queue.shift(); disk; disk = queue.shift()) {
      // After a failure or an abort, devices not started yet stay untouched.
      if (failures.length > 0 || options.signal?.aborted) return;
      const deviceLog = log.with({ device: disk.name });
      state[disk.name] = { state: "erasing", method: null };
      publish();
      try {
        const report = await options.eraseBlockDevice(node, disk, {
          log: deviceLog,
          signal: options.signal,
          progress(method) {
            state[disk!.name] = { state: "erasing", method };
            publish();
          },
        });
        results[disk.name] = report;
        state[disk.name] = report?.skipped
          ? { state: "skipped", method: null, seconds: report.seconds }
          : { state: "done", method: report?.method ?? null, seconds: report?.seconds };
      } catch (err) {
        deviceLog.error("Erasing the device failed", { error: reason(err) });
        failures.push({ device: disk.name, error: err });
        state[disk.name] = { state: "failed", error: reason(err) };
      }
      publish();
    }
  }
  await Promise.all(Array.from({ length: workers }, () => worker()));

  const first = failures[0];
  if (first) {
    if (first.error instanceof AgentError) throw first.error;
    throw new BlockDeviceEraseError(
      `Erasing device ${first.device} failed: ${reason(first.error)}`,
      {
        cause: first.error,
      },
    );
  }
  if (options.signal?.aborted) {
    throw new BlockDeviceEraseError("Erasing devices was aborted before every device was erased");
  }
  return results;
}
