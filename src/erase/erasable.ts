/**
 * Which devices metadata erasure may touch (spec 09 §3.1, `_list_erasable_devices`): disks and
 * partitions, minus skip-listed devices and everything stacked on them, minus the virtual
 * media device, Linux RAID members and read-only devices; sorted by name descending so a
 * partition (`sda1`) is wiped before its disk's table (`sda`) disappears.
 */
import { BlockDeviceEraseError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { InvalidRootDeviceHintError } from "../hints/root_device.ts";
import { findSkippedDevices, getSkipList } from "../hints/skip_list.ts";
import { listBlockDevices } from "../inventory/block_devices.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { readSystemFiles, resolveLink } from "../system/sysfs.ts";
import { type ProbedEntry, probeDevice } from "./probe.ts";

const VIRTUAL_MEDIA_LABEL = "/dev/disk/by-label/ir-vfd-dev";

export interface ErasableDevice {
  device: BlockDevice;
  /** What is on the device and on top of it, for the shared-filesystem guard. */
  probe: ProbedEntry[];
}

export interface ErasableOptions {
  log: Logger;
  node: Node | null;
  /** `--only-block-devices`: non-empty restricts erasure to exactly these paths. */
  onlyBlockDevices: readonly string[];
  /** Further devices to keep with everything on them (e.g. RAID volumes kept by spec 12). */
  excludeDevices?: readonly string[];
}

function kname(device: BlockDevice): string {
  return device.name.replace(/^\/dev\//, "");
}

/** `device` and every device stacked on it (partitions, md/dm holders), by lsblk. */
async function withDescendants(runner: Runner, device: string): Promise<string[]> {
  try {
    const { stdout } = await runner.run("lsblk", ["-bia", "--json", "-oKNAME", device], {
      timeoutMs: 60_000,
    });
    const rows = (JSON.parse(stdout) as { blockdevices?: { kname?: unknown }[] }).blockdevices;
    const names = (rows ?? []).map((r) => r.kname).filter((k) => typeof k === "string");
    return [device, ...names.map((k) => `/dev/${k}`)];
  } catch (err) {
    // Not knowing what sits on a protected disk means not knowing what is safe to wipe.
    throw new BlockDeviceEraseError(
      `Cannot list the devices on skipped device "${device}", so nothing was erased: ${
        err instanceof Error ? err.message : err
      }`,
    );
  }
}

/** Names of devices that must stay untouched: skip-listed, excluded, and all they carry. */
async function protectedNames(
  runner: Runner,
  devices: readonly BlockDevice[],
  options: ErasableOptions,
): Promise<Set<string>> {
  let skipList;
  try {
    skipList = getSkipList(options.node);
  } catch (err) {
    if (!(err instanceof InvalidRootDeviceHintError)) throw err;
    // Without a valid skip list there is no telling what the operator protects.
    throw new BlockDeviceEraseError(
      `Cannot erase block devices, nothing was erased: ${err.message}`,
      {
        cause: err,
      },
    );
  }
  const skipped = findSkippedDevices(devices, skipList, options.log);
  const roots = new Set([...skipped.map((d) => d.name), ...(options.excludeDevices ?? [])]);
  const kept = new Set<string>();
  for (const root of roots) {
    for (const name of await withDescendants(runner, root)) kept.add(name);
  }
  return kept;
}

/** Read-only flags of all devices in one read; a partition's flag includes its disk's. */
async function readOnlyNames(runner: Runner, devices: readonly BlockDevice[]) {
  const path = (d: BlockDevice) => `/sys/class/block/${kname(d)}/ro`;
  const flags = await readSystemFiles(runner, devices.map(path));
  return new Set(devices.filter((d) => flags.get(path(d))?.trim() === "1").map((d) => d.name));
}

/** Lists the devices `erase_devices_metadata` may wipe, with what each one holds. */
export async function listErasableDevices(
  runner: Runner,
  options: ErasableOptions,
): Promise<ErasableDevice[]> {
  const { log } = options;
  const devices = await listBlockDevices(runner, {
    includePartitions: true,
    onlyBlockDevices: options.onlyBlockDevices,
    allValues: true,
    log,
  });
  const keep = await protectedNames(runner, devices, options);
  const candidates = devices
    .filter((d) => {
      if (keep.has(d.name)) log.info("Skipping erasure of a protected device", { device: d.name });
      return !keep.has(d.name);
    })
    .sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  const virtualMedia = await resolveLink(runner, VIRTUAL_MEDIA_LABEL);
  const readOnly = await readOnlyNames(runner, candidates);

  const erasable: ErasableDevice[] = [];
  for (const device of candidates) {
    if (device.name === virtualMedia) {
      log.info("Skipping erasure of the virtual media device", { device: device.name });
      continue;
    }
    if (readOnly.has(device.name)) {
      log.info("Skipping erasure of a read-only device", { device: device.name });
      continue;
    }
    let probe: ProbedEntry[];
    try {
      probe = await probeDevice(runner, device.name);
    } catch (err) {
      // As IPA: when membership cannot be checked, assume a RAID member and leave it alone.
      log.warn("Cannot tell whether a device is a RAID member; not erasing it", {
        device: device.name,
        error: err,
      });
      continue;
    }
    if (probe.some((entry) => entry.fsTypes.includes("linux_raid_member"))) {
      log.info("Skipping erasure of a Linux RAID member device", { device: device.name });
      continue;
    }
    erasable.push({ device, probe });
  }
  return erasable;
}
