/**
 * `get_os_install_device` (spec 07 §4): the block devices in "all values" mode, minus the skip
 * list, matched against the node's root device hints (or the default rule without hints).
 *
 * Not handled here: a software RAID root volume created in this boot (spec 12) takes
 * precedence over hints; the generic manager checks for it (`src/raid/state.ts`) before
 * calling this, and passes the other arrays it created, with their holders, as `excludeDevices`.
 */
import { DeviceNotFound } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { listBlockDevices } from "../inventory/block_devices.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import {
  getRootDeviceHints,
  InvalidRootDeviceHintError,
  parseRootDeviceHints,
  type RootDeviceHints,
  selectRootDevice,
} from "./root_device.ts";
import { applySkipList, EMPTY_SKIP_LIST, getSkipList } from "./skip_list.ts";

export interface InstallDeviceOptions {
  log: Logger;
  /** The cached node; null before lookup (no hints, no skip list). */
  node: Node | null;
  /** `--only-block-devices`: non-empty restricts the choice to exactly these paths. */
  onlyBlockDevices: readonly string[];
  /** Devices that are never candidates (non-root RAID volumes of this boot and their disks). */
  excludeDevices?: readonly string[];
}

/** Hints of `node`, with validation failures reported as `DeviceNotFound` (as IPA does). */
export function rootDeviceHintsForDeploy(node: Node | null): RootDeviceHints | null {
  const raw = getRootDeviceHints(node);
  try {
    return parseRootDeviceHints(raw);
  } catch (err) {
    if (!(err instanceof InvalidRootDeviceHintError)) throw err;
    throw new DeviceNotFound(
      `No devices could be found using the root device hints ${JSON.stringify(raw)} ` +
        `because they failed to validate. Error: ${err.message}`,
    );
  }
}

/** Chooses the device to install the image onto; throws `DeviceNotFound`. */
export async function findOsInstallDevice(
  runner: Runner,
  options: InstallDeviceOptions,
): Promise<BlockDevice> {
  const hints = rootDeviceHintsForDeploy(options.node);
  const devices = await listBlockDevices(runner, {
    onlyBlockDevices: options.onlyBlockDevices,
    allValues: true,
    log: options.log,
  });
  let skipList = EMPTY_SKIP_LIST;
  try {
    skipList = getSkipList(options.node);
  } catch (err) {
    if (!(err instanceof InvalidRootDeviceHintError)) throw err;
    throw new DeviceNotFound(`Cannot choose a root device: ${err.message}`);
  }
  const excluded = new Set(options.excludeDevices ?? []);
  const candidates = devices.filter((d) => !excluded.has(d.name));
  return selectRootDevice(applySkipList(candidates, skipList, options.log), hints, options.log);
}
