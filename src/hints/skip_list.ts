/**
 * `node.properties.skip_block_devices` (spec 04 §9): a list whose entries are either root
 * device hint dicts (every matching device is hidden from erasure, RAID and install-device
 * selection) or `{"volume_name": ...}` protecting a software RAID volume (spec 12).
 */
import type { Node } from "../hardware/manager.ts";
import type { BlockDevice } from "../inventory/types.ts";
import { log as rootLog, type Logger } from "../log.ts";
import {
  findDevicesByHints,
  InvalidRootDeviceHintError,
  parseRootDeviceHints,
  type RootDeviceHints,
} from "./root_device.ts";

export interface SkipList {
  /** Hint dicts; a device matching any of them is skipped. */
  readonly hints: readonly RootDeviceHints[];
  /** RAID volume names to keep (handled by the RAID code, spec 12). */
  readonly volumeNames: readonly string[];
}

export const EMPTY_SKIP_LIST: SkipList = { hints: [], volumeNames: [] };

function invalidEntry(value: unknown, reason: string): InvalidRootDeviceHintError {
  return new InvalidRootDeviceHintError(
    "skip_block_devices",
    value,
    `Invalid "skip_block_devices" entry ${JSON.stringify(value)}: ${reason}`,
  );
}

/**
 * Reads and validates the node's skip list. An invalid entry throws: guessing what an
 * operator meant to protect is not safe before erasing disks.
 */
export function getSkipList(node: Node | null | undefined): SkipList {
  const raw = node?.properties?.skip_block_devices;
  if (raw === null || raw === undefined) return EMPTY_SKIP_LIST;
  if (!Array.isArray(raw)) throw invalidEntry(raw, "expected a list of objects");
  const hints: RootDeviceHints[] = [];
  const volumeNames: string[] = [];
  for (const entry of raw) {
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw invalidEntry(entry, "expected an object");
    }
    const record = entry as Record<string, unknown>;
    if ("volume_name" in record) {
      if (typeof record.volume_name !== "string" || record.volume_name === "") {
        throw invalidEntry(entry, '"volume_name" must be a non-empty string');
      }
      volumeNames.push(record.volume_name);
      continue;
    }
    const parsed = parseRootDeviceHints(record);
    if (parsed) hints.push(parsed);
  }
  return { hints, volumeNames };
}

/** The devices matching any skip-list hint, logging each one skipped. */
export function findSkippedDevices(
  devices: readonly BlockDevice[],
  skipList: SkipList,
  log: Logger = rootLog,
): BlockDevice[] {
  const skippedNames = new Set<string>();
  for (const hints of skipList.hints) {
    const matched = findDevicesByHints(devices, hints).map((d) => d.name);
    const fresh = matched.filter((name) => !skippedNames.has(name));
    for (const name of matched) skippedNames.add(name);
    if (fresh.length > 0) {
      log.warn("Skipping block devices matching a skip_block_devices hint", {
        hint: JSON.stringify(hints.raw),
        devices: fresh.join(","),
      });
    }
  }
  return devices.filter((d) => skippedNames.has(d.name));
}

/** `devices` without those matching a skip-list hint (order kept). */
export function applySkipList(
  devices: readonly BlockDevice[],
  skipList: SkipList,
  log: Logger = rootLog,
): BlockDevice[] {
  const skipped = new Set(findSkippedDevices(devices, skipList, log).map((d) => d.name));
  return devices.filter((d) => !skipped.has(d.name));
}
