/**
 * The md arrays RAID steps may act on, with their skip-list classification (spec 12 §5). With
 * `--only-block-devices` the agent sees only arrays built entirely on the listed devices, so it
 * never reads past, keeps, wipes or stops an array of the machine it runs on.
 */
import type { Runner } from "../system/run.ts";
import { holderDisks, listMdArrays, mdadmDetail, type MdDetail } from "./mdadm.ts";

export type ArrayAction = "keep" | "wipe" | "delete";

export interface MdArray {
  device: string;
  detail: MdDetail;
  holders: string[];
  action: ArrayAction;
}

/** Arrays present and visible, classified against the protected volume names. */
export async function classifiedArrays(
  runner: Runner,
  options: { onlyBlockDevices: readonly string[]; protectedNames: readonly string[] },
): Promise<MdArray[]> {
  const arrays: MdArray[] = [];
  for (const device of await listMdArrays(runner)) {
    let detail: MdDetail;
    try {
      detail = await mdadmDetail(runner, device);
    } catch {
      continue; // an inactive md node (no members) reports nothing and holds nothing
    }
    const holders = holderDisks(detail);
    const only = options.onlyBlockDevices;
    if (only.length > 0 && (holders.length === 0 || !holders.every((h) => only.includes(h)))) {
      continue;
    }
    const keep = detail.name !== null && options.protectedNames.includes(detail.name);
    arrays.push({ device, detail, holders, action: keep ? "keep" : "delete" });
  }
  // An array sharing a disk with a kept one loses its data but stays; an ESP array stays whole.
  const keptHolders = new Set(arrays.filter((a) => a.action === "keep").flatMap((a) => a.holders));
  for (const array of arrays) {
    if (array.action !== "delete" || !array.holders.some((h) => keptHolders.has(h))) continue;
    array.action = array.detail.name === "esp" ? "keep" : "wipe";
  }
  return arrays;
}

/**
 * md devices that erasure must leave alone (spec 12 §5): arrays kept or wiped-only because the
 * skip list names their volume (or shares their disks). Empty without protected names.
 */
export async function protectedRaidDevices(
  runner: Runner,
  options: { onlyBlockDevices: readonly string[]; protectedNames: readonly string[] },
): Promise<string[]> {
  if (options.protectedNames.length === 0) return [];
  const arrays = await classifiedArrays(runner, options);
  return arrays.filter((a) => a.action !== "delete").map((a) => a.device);
}

/** What erasure must leave alone because of software RAID the skip list keeps (spec 12 §5). */
export interface RaidErasureExclusions {
  /** Arrays kept whole (`keep`). */
  kept: string[];
  /** Arrays whose data goes but which stay (`wipe`): disk erasure wipes them, metadata
   * erasure leaves them. */
  wiped: string[];
  /** Holder disks and member partitions of kept and wiped arrays. */
  holders: string[];
  members: string[];
}

/**
 * The md devices, holder disks and member partitions erasure skips: IPA drops kept arrays
 * from `erase_devices` and kept and wiped ones from metadata erasure; the holder disks and
 * partitions under them are skipped too, since erasing one would break the array. Empty
 * without protected volume names.
 */
export async function raidErasureExclusions(
  runner: Runner,
  options: { onlyBlockDevices: readonly string[]; protectedNames: readonly string[] },
): Promise<RaidErasureExclusions> {
  const none = { kept: [], wiped: [], holders: [], members: [] };
  if (options.protectedNames.length === 0) return none;
  const arrays = (await classifiedArrays(runner, options)).filter((a) => a.action !== "delete");
  return {
    kept: arrays.filter((a) => a.action === "keep").map((a) => a.device),
    wiped: arrays.filter((a) => a.action === "wipe").map((a) => a.device),
    holders: [...new Set(arrays.flatMap((a) => a.holders))],
    members: [...new Set(arrays.flatMap((a) => a.detail.components))],
  };
}
