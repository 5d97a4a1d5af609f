/**
 * The software RAID configuration (spec 12 §1-2): `node.target_raid_config` for
 * `raid.create_configuration`, the `raid_config` argument of `raid.apply_configuration`.
 * Validation collects every problem and reports them together, as IPA does.
 */
import { SoftwareRAIDError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";

export type RaidLevel = "0" | "1" | "1+0" | "5" | "6";

export interface LogicalDisk {
  /** GiB, or "MAX" for the rest of each holder disk. */
  sizeGb: number | "MAX";
  level: RaidLevel;
  volumeName: string | null;
  isRootVolume: boolean;
  /** Root device hint dicts choosing one holder each; null = every disk. */
  physicalDisks: Record<string, unknown>[] | null;
  /** The entry as given (returned to the conductor untouched). */
  raw: Record<string, unknown>;
}

const LEVELS: readonly string[] = ["0", "1", "1+0", "5", "6"];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The logical disks with `controller: software`, or [] when there is nothing to do. */
export function softwareLogicalDisks(config: unknown): Record<string, unknown>[] {
  if (!isRecord(config) || !Array.isArray(config.logical_disks)) return [];
  return config.logical_disks.filter((d) => isRecord(d) && d.controller === "software");
}

/**
 * Validates a RAID configuration (spec 12 §2) and returns its logical disks. `volumeNamesRequired`
 * is set when the skip list protects volumes by name.
 */
export function validateRaidConfig(
  node: Node,
  config: unknown,
  options: { volumeNamesRequired: boolean },
): LogicalDisk[] {
  const problems: string[] = [];
  const entries = isRecord(config) && Array.isArray(config.logical_disks)
    ? config.logical_disks
    : null;
  if (!entries || entries.length === 0) problems.push("logical_disks is missing or empty");
  else if (entries.length > 2) {
    problems.push(`at most 2 logical disks are supported, got ${entries.length}`);
  }
  const disks: LogicalDisk[] = [];
  const names = new Set<string>();
  let roots = 0;
  for (const [i, entry] of (entries ?? []).slice(0, 2).entries()) {
    const where = `logical_disks[${i}]`;
    if (!isRecord(entry)) {
      problems.push(`${where} is not an object`);
      continue;
    }
    if (entry.controller !== "software") {
      problems.push(`${where}.controller is ${JSON.stringify(entry.controller)}, not "software"`);
    }
    const level = String(entry.raid_level ?? "");
    if (i === 0 && level !== "1") {
      problems.push(
        `${where}.raid_level is ${JSON.stringify(entry.raid_level)}; the first ` +
          'logical disk must be RAID "1"',
      );
    } else if (!LEVELS.includes(level)) {
      problems.push(
        `${where}.raid_level ${JSON.stringify(entry.raid_level)} is not one of ` +
          LEVELS.join(", "),
      );
    }
    const size = entry.size_gb;
    const sizeGb = size === "MAX" ? "MAX" : typeof size === "number" && size > 0 ? size : null;
    if (sizeGb === null) {
      problems.push(
        `${where}.size_gb ${JSON.stringify(size)} is neither a positive number nor "MAX"`,
      );
    }
    const volumeName = typeof entry.volume_name === "string" && entry.volume_name !== ""
      ? entry.volume_name
      : null;
    if (volumeName !== null) {
      if (names.has(volumeName)) {
        problems.push(`${where}.volume_name ${JSON.stringify(volumeName)} is not unique`);
      }
      names.add(volumeName);
    } else if (options.volumeNamesRequired) {
      problems.push(`${where}.volume_name is required when skip_block_devices names volumes`);
    }
    if (entry.is_root_volume === true) roots++;
    let physicalDisks: Record<string, unknown>[] | null = null;
    if (entry.physical_disks !== undefined && entry.physical_disks !== null) {
      const list = entry.physical_disks;
      if (!Array.isArray(list) || list.length < 2 || !list.every(isRecord)) {
        problems.push(`${where}.physical_disks must be a list of at least 2 device hint objects`);
      } else physicalDisks = list;
    }
    disks.push({
      sizeGb: sizeGb ?? "MAX",
      level: level as RaidLevel,
      volumeName,
      isRootVolume: entry.is_root_volume === true,
      physicalDisks,
      raw: entry,
    });
  }
  if (disks.length === 2 && disks.every((d) => d.sizeGb === "MAX")) {
    problems.push('only one logical disk may have size_gb "MAX"');
  }
  if (roots > 1) problems.push("more than one logical disk has is_root_volume true");
  if (problems.length > 0) {
    throw new SoftwareRAIDError(
      `Could not validate Software RAID config for ${node.uuid}: ${problems.join("; ")}`,
    );
  }
  return disks;
}

/** Minimum number of holder disks for a level (spec 12 §2; mdadm accepts RAID 10 on two). */
export function minimumDisks(level: RaidLevel): number {
  return level === "5" ? 3 : level === "6" ? 4 : 2;
}
