/**
 * What is on a block device and everything stacked on it (partitions, md/dm holders): the
 * identifiers the shared-filesystem guard and the RAID-member test look at.
 *
 * lsblk reads these from the udev database, which can be missing or stale (a ramdisk without
 * udevd, a device changed since boot), so each entry is also probed directly with `blkid -p`.
 * Either source naming a protected GUID or filesystem is enough.
 */
import { BlockDeviceError } from "../api/errors.ts";
import type { Runner } from "../system/run.ts";

export interface ProbedEntry {
  /** `/dev/<kname>` of the device or of something stacked on it. */
  name: string;
  /** Every UUID, PTUUID, PARTTYPE and PARTUUID seen, lower-cased. */
  ids: string[];
  /** Every filesystem / signature type seen, lower-cased (`ext4`, `gfs2`, `linux_raid_member`). */
  fsTypes: string[];
}

/** The columns spec 09 §5 reads, plus KNAME to name descendants and FSTYPE for gfs2. */
export const PROBE_LSBLK_ARGS: readonly string[] = [
  "-bia",
  "--json",
  "-oKNAME,UUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE",
];

const ID_COLUMNS = ["uuid", "ptuuid", "parttype", "partuuid"] as const;
/** `blkid -p -o export` keys carrying the same identifiers. */
const BLKID_ID_KEYS = ["UUID", "PTUUID", "PART_ENTRY_TYPE", "PART_ENTRY_UUID"] as const;

function lower(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value.trim().toLowerCase() : null;
}

/** Parses the probe's lsblk JSON into entries, the device itself first. */
export function parseProbeLsblk(json: string, device: string): ProbedEntry[] {
  let rows: unknown;
  try {
    rows = (JSON.parse(json) as { blockdevices?: unknown }).blockdevices;
  } catch (err) {
    throw new BlockDeviceError(`Cannot parse lsblk output for device "${device}": ${err}`);
  }
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new BlockDeviceError(`lsblk returned no entry for device "${device}"`);
  }
  const entries = new Map<string, ProbedEntry>();
  rows.forEach((row: Record<string, unknown>, index) => {
    const kname = typeof row.kname === "string" ? row.kname : null;
    // Without KNAME (older callers' column set) the first row is the device itself.
    const name = kname ? `/dev/${kname}` : index === 0 ? device : `${device}#${index}`;
    const entry = entries.get(name) ?? { name, ids: [], fsTypes: [] };
    for (const column of ID_COLUMNS) {
      const value = lower(row[column]);
      if (value) entry.ids.push(value);
    }
    const fsType = lower(row.fstype);
    if (fsType) entry.fsTypes.push(fsType);
    entries.set(name, entry);
  });
  return [...entries.values()];
}

/** Adds the identifiers of `blkid -p -o export` output to `entry`. */
export function mergeBlkid(entry: ProbedEntry, output: string): void {
  for (const line of output.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq);
    const value = lower(line.slice(eq + 1));
    if (value === null) continue;
    if ((BLKID_ID_KEYS as readonly string[]).includes(key)) entry.ids.push(value);
    if (key === "TYPE") entry.fsTypes.push(value);
  }
}

/**
 * Identifiers of `device` and everything on it. Throws when lsblk fails or when blkid fails
 * for another reason than "nothing found" (2) or "ambiguous" (8): an unknown device is not
 * known to be safe.
 */
export async function probeDevice(runner: Runner, device: string): Promise<ProbedEntry[]> {
  const { stdout } = await runner.run("lsblk", [...PROBE_LSBLK_ARGS, device], {
    timeoutMs: 60_000,
  });
  const entries = parseProbeLsblk(stdout, device);
  for (const entry of entries) {
    if (entry.name.includes("#")) continue;
    const result = await runner.run("blkid", ["-p", "-o", "export", entry.name], {
      timeoutMs: 60_000,
      okCodes: [0, 2, 8],
    });
    mergeBlkid(entry, result.stdout);
  }
  // The kernel (and so lsblk) may not know a disk's partitions yet (no partition scan, udev
  // still busy): read the table itself too, so a protected partition is seen regardless.
  const table = await runner.run("partx", ["-g", "-o", "TYPE,UUID", "--show", device], {
    timeoutMs: 60_000,
    okCodes: [0, 1], // 1: no partition table
  });
  const self = entries[0]!;
  for (const id of table.stdout.split(/\s+/)) {
    const value = lower(id);
    if (value) self.ids.push(value);
  }
  return entries;
}
