/**
 * Block device discovery (spec 05 §5): `lsblk` after `udevadm settle`, filtered to disks (or
 * partitions), enriched with udev properties and a few sysfs attributes.
 *
 * `onlyBlockDevices` (agent flag `--only-block-devices`) fences the agent in: when non-empty,
 * nothing outside the list is ever returned, so nothing outside it can be matched by hints or
 * erased. Listed devices are admitted even when lsblk types them `loop` (tests use loops).
 */
import { BlockDeviceError } from "../api/errors.ts";
import { log as rootLog, type Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { listDirectory, readSystemFiles, resolveLink } from "../system/sysfs.ts";
import type { BlockDevice } from "./types.ts";

/** The lsblk columns IPA-master requests; their lower-case names are the JSON keys. */
export const LSBLK_COLUMNS = [
  "KNAME",
  "MODEL",
  "SIZE",
  "ROTA",
  "TYPE",
  "UUID",
  "PARTUUID",
  "SERIAL",
  "WWN",
  "LOG-SEC",
  "PHY-SEC",
  "TRAN",
] as const;

/** lsblk arguments of the discovery command. */
export const LSBLK_ARGS: readonly string[] = ["-bia", "--json", `-o${LSBLK_COLUMNS.join(",")}`];

const BY_PATH_DIR = "/dev/disk/by-path";

/** One lsblk entry that passed the filters, with values coerced to their types. */
export interface LsblkDevice {
  kname: string;
  /** `/dev/<kname>`. */
  name: string;
  model: string | null;
  size: number;
  rotational: boolean;
  type: string;
  uuid: string | null;
  partuuid: string | null;
  serial: string | null;
  wwn: string | null;
  logicalSectors: number | null;
  physicalSectors: number | null;
  tran: string | null;
}

/** `disk` lists disks, hardware/software RAID volumes and multipath maps; `part` partitions. */
export type BlockType = "disk" | "part";

export interface ParseLsblkOptions {
  blockType: BlockType;
  /** Non-empty: only these `/dev/...` paths, loop devices admitted. */
  onlyBlockDevices?: readonly string[];
}

type RawEntry = Record<string, unknown>;

/** Flattens lsblk JSON (flat without a NAME column, but tolerate `children` trees). */
function lsblkEntries(json: string): RawEntry[] {
  let report: unknown;
  try {
    report = JSON.parse(json);
  } catch (err) {
    throw new BlockDeviceError(`Cannot parse the output of lsblk as JSON: ${err}`);
  }
  const top = (report as { blockdevices?: unknown } | null)?.blockdevices;
  if (!Array.isArray(top)) {
    throw new BlockDeviceError('The output of lsblk has no "blockdevices" list');
  }
  const out: RawEntry[] = [];
  const visit = (entries: unknown[]) => {
    for (const entry of entries) {
      if (typeof entry !== "object" || entry === null) continue;
      out.push(entry as RawEntry);
      const children = (entry as RawEntry).children;
      if (Array.isArray(children)) visit(children);
    }
  };
  visit(top);
  return out;
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : String(value);
}

/** A whole number given as a number or (older util-linux) a string. */
function whole(entry: RawEntry, key: string): number | null {
  const value = entry[key];
  if (value === null || value === undefined || value === "") return null;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === "string" && /^\d+$/.test(value.trim())) return Number(value.trim());
  throw new BlockDeviceError(
    `lsblk returned ${key} ${JSON.stringify(value)} for device "${entry.kname}", ` +
      "which is not a whole number",
  );
}

/** ROTA is a boolean (util-linux >= 2.33) or "0"/"1" (older). */
function rotational(entry: RawEntry): boolean {
  const value = entry.rota;
  if (value === true || value === "1" || value === 1) return true;
  if (value === false || value === "0" || value === 0 || value === null) return false;
  throw new BlockDeviceError(
    `lsblk returned rota ${JSON.stringify(value)} for device "${entry.kname}", ` +
      "which is not a boolean",
  );
}

function typeAdmitted(type: string, blockType: BlockType, fenced: boolean): boolean {
  if (blockType === "part") return type === "part" || type === "md";
  if (type === "disk" || type === "mpath" || type.includes("raid")) return true;
  // Loop devices are never inventory, except when the operator names them explicitly.
  return fenced && type === "loop";
}

/**
 * Parses `lsblk -bia --json -o<LSBLK_COLUMNS>` output and applies the filters of spec 05 §5
 * (except the multipath and manager filters, which need I/O), in lsblk order.
 */
export function parseLsblk(json: string, options: ParseLsblkOptions): LsblkDevice[] {
  const only = options.onlyBlockDevices ?? [];
  const fenced = only.length > 0;
  const devices: LsblkDevice[] = [];
  const seen = new Set<string>();
  for (const entry of lsblkEntries(json)) {
    const kname = text(entry.kname);
    if (kname === null || kname === "") continue;
    const name = `/dev/${kname}`;
    if (seen.has(name)) continue; // md devices appear once per member
    if (fenced && !only.includes(name)) continue;
    if (kname.startsWith("fd")) continue; // floppies are TYPE disk
    const type = text(entry.type);
    if (type === null || !typeAdmitted(type, options.blockType, fenced)) continue;
    const missing = LSBLK_COLUMNS.map((c) => c.toLowerCase()).filter((c) => !(c in entry));
    if (missing.length > 0) {
      throw new BlockDeviceError(
        `lsblk did not return the column(s) ${missing.map((c) => `"${c}"`).join(", ")} ` +
          `for device "${name}"`,
      );
    }
    if (kname.startsWith("ram") || kname.startsWith("zram")) continue;
    const size = whole(entry, "size") ?? 0;
    if (size === 0) continue; // virtual floppies and empty card readers
    seen.add(name);
    devices.push({
      kname,
      name,
      model: text(entry.model),
      size,
      rotational: rotational(entry),
      type,
      uuid: text(entry.uuid),
      partuuid: text(entry.partuuid),
      serial: text(entry.serial),
      wwn: text(entry.wwn),
      logicalSectors: whole(entry, "log-sec"),
      physicalSectors: whole(entry, "phy-sec"),
      tran: text(entry.tran) || null,
    });
  }
  return devices;
}

/** Splits `udevadm info --query=property` output (one or many devices) by `DEVNAME`. */
export function parseUdevProperties(output: string): Map<string, Record<string, string>> {
  const byName = new Map<string, Record<string, string>>();
  let current: Record<string, string> = {};
  const flush = () => {
    if (current.DEVNAME) byName.set(current.DEVNAME, current);
    current = {};
  };
  for (const line of output.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) {
      if (line.trim() === "") flush(); // newer systemd separates devices with a blank line
      continue;
    }
    const key = line.slice(0, eq);
    if (key === "DEVPATH" && current.DEVPATH) flush(); // systemd 252 does not
    current[key] = line.slice(eq + 1);
  }
  flush();
  return byName;
}

async function udevSettle(runner: Runner, log: Logger): Promise<void> {
  try {
    await runner.run("udevadm", ["settle"], { timeoutMs: 180_000 });
  } catch (err) {
    log.warn("Waiting for udev to settle failed; listing block devices anyway", { error: err });
  }
}

/** udev properties of every device: one `udevadm info` for all, then one per device missed. */
async function udevProperties(
  runner: Runner,
  names: readonly string[],
  log: Logger,
): Promise<Map<string, Record<string, string>>> {
  if (names.length === 0) return new Map();
  let found = new Map<string, Record<string, string>>();
  try {
    const result = await runner.run(
      "udevadm",
      ["info", "--query=property", ...names.map((n) => `--name=${n}`)],
      { timeoutMs: 60_000, okCodes: [0, 1] },
    );
    found = parseUdevProperties(result.stdout);
  } catch (err) {
    log.warn("Cannot read udev properties of block devices", { error: err });
    return found;
  }
  // Older udevadm takes a single device; ask for each one the batch did not return.
  for (const name of names.filter((n) => !found.has(n))) {
    try {
      const result = await runner.run("udevadm", ["info", "--query=property", `--name=${name}`], {
        timeoutMs: 30_000,
      });
      found.set(name, parseUdevProperties(result.stdout).values().next().value ?? {});
    } catch (err) {
      log.warn("Cannot read udev properties of block device", { device: name, error: err });
    }
  }
  return found;
}

/** `multipath -c` says the device is a path of a map; `multipath -ll` names the `dm-*` map. */
async function multipathParent(runner: Runner, name: string): Promise<string | null> {
  try {
    await runner.run("multipath", ["-c", name], { timeoutMs: 30_000 });
    const out = await runner.run("multipath", ["-ll", name], { timeoutMs: 30_000 });
    const first = out.stdout.split("\n")[0] ?? "";
    return first.split(" ").find((token) => token.startsWith("dm")) ?? null;
  } catch {
    return null; // not a path (exit 1), or multipath-tools absent
  }
}

async function dropMultipathPaths(
  runner: Runner,
  devices: LsblkDevice[],
  log: Logger,
): Promise<LsblkDevice[]> {
  // Paths only exist next to a map; without an `mpath` device there is nothing to ask.
  if (!devices.some((d) => d.type === "mpath")) return devices;
  const kept: LsblkDevice[] = [];
  for (const device of devices) {
    const parent = device.type === "disk" ? await multipathParent(runner, device.name) : null;
    if (parent) {
      log.warn("Ignoring a multipath path device in favour of its map", {
        device: device.name,
        map: parent,
      });
      continue;
    }
    kept.push(device);
  }
  return kept;
}

/** `/dev/disk/by-path` link of each device, preferring udev's DEVLINKS over one readlink each. */
async function byPathLinks(
  runner: Runner,
  devices: readonly LsblkDevice[],
  udev: Map<string, Record<string, string>>,
): Promise<Map<string, string>> {
  const links = new Map<string, string>();
  const entries = new Set(await listDirectory(runner, BY_PATH_DIR));
  if (entries.size === 0) return links;
  const haveDevlinks = devices.some((d) => udev.get(d.name)?.DEVLINKS !== undefined);
  if (haveDevlinks) {
    for (const device of devices) {
      const candidates = (udev.get(device.name)?.DEVLINKS ?? "")
        .split(/\s+/)
        .filter((l) =>
          l.startsWith(`${BY_PATH_DIR}/`) && entries.has(l.slice(BY_PATH_DIR.length + 1))
        )
        .sort();
      if (candidates[0]) links.set(device.name, candidates[0]);
    }
    return links;
  }
  for (const entry of [...entries].sort().reverse()) {
    const target = await resolveLink(runner, `${BY_PATH_DIR}/${entry}`);
    if (target) links.set(target, `${BY_PATH_DIR}/${entry}`);
  }
  return links;
}

async function hctlOf(runner: Runner, device: LsblkDevice): Promise<string | null> {
  if (device.type === "part" || device.type === "md") return null; // no SCSI address
  const entries = await listDirectory(runner, `/sys/block/${device.kname}/device/scsi_device`);
  return entries[0] ?? null;
}

export interface ListBlockDevicesOptions {
  /** Also list partitions (TYPE `part`) and md partitions (TYPE `md`). */
  includePartitions?: boolean;
  /** `--only-block-devices`: non-empty restricts the listing to exactly these paths. */
  onlyBlockDevices: readonly string[];
  /**
   * Fill `serials` and `wwns` with every collected value (lsblk, udev short and long) for
   * root-device-hint matching (spec 05 §5 "all serials" mode).
   */
  allValues?: boolean;
  log?: Logger;
}

function udevValue(props: Record<string, string>, key: string): string | null {
  return props[`ID_${key}`] || props[`DM_${key}`] || null;
}

function toBlockDevice(
  device: LsblkDevice,
  extra: {
    udev: Record<string, string>;
    vendor: string | null;
    hctl: string | null;
    byPath: string | null;
    allValues: boolean;
  },
): BlockDevice {
  const { udev } = extra;
  const result: BlockDevice = {
    name: device.name,
    model: device.model,
    size: device.size,
    rotational: device.rotational,
    // lsblk first; udev fills the gaps (ID_* for disks, DM_* for device-mapper maps).
    wwn: device.wwn || udevValue(udev, "WWN"),
    serial: device.serial || udevValue(udev, "SERIAL_SHORT") || udevValue(udev, "SERIAL"),
    vendor: extra.vendor,
    wwn_with_extension: udevValue(udev, "WWN_WITH_EXTENSION"),
    wwn_vendor_extension: udevValue(udev, "WWN_VENDOR_EXTENSION"),
    hctl: extra.hctl,
    by_path: extra.byPath,
    logical_sectors: device.logicalSectors,
    physical_sectors: device.physicalSectors,
    tran: device.tran,
    uuid: device.uuid,
    partuuid: device.partuuid,
    type: device.type,
  };
  if (extra.allValues) {
    result.serials = [
      device.serial,
      udevValue(udev, "SERIAL_SHORT"),
      udevValue(udev, "SERIAL"),
    ];
    result.wwns = [device.wwn, udevValue(udev, "WWN")];
  }
  return result;
}

/** Lists block devices (spec 05 §5), disks first then partitions, each in lsblk order. */
export async function listBlockDevices(
  runner: Runner,
  options: ListBlockDevicesOptions,
): Promise<BlockDevice[]> {
  const log = options.log ?? rootLog;
  const only = options.onlyBlockDevices;
  await udevSettle(runner, log);
  const { stdout } = await runner.run("lsblk", LSBLK_ARGS, { timeoutMs: 60_000 });
  let devices = parseLsblk(stdout, { blockType: "disk", onlyBlockDevices: only });
  devices = await dropMultipathPaths(runner, devices, log);
  if (options.includePartitions) {
    const disks = new Set(devices.map((d) => d.name));
    const parts = parseLsblk(stdout, { blockType: "part", onlyBlockDevices: only });
    devices = [...devices, ...parts.filter((p) => !disks.has(p.name))];
  }
  if (devices.length === 0) return [];

  const names = devices.map((d) => d.name);
  const vendorPath = (d: LsblkDevice) => `/sys/class/block/${d.kname}/device/vendor`;
  const [udev, vendors, hctls] = await Promise.all([
    udevProperties(runner, names, log),
    readSystemFiles(runner, devices.map(vendorPath)),
    Promise.all(devices.map((d) => hctlOf(runner, d))),
  ]);
  const byPath = await byPathLinks(runner, devices, udev);
  return devices.map((device, i) =>
    toBlockDevice(device, {
      udev: udev.get(device.name) ?? {},
      vendor: vendors.get(vendorPath(device))?.trim() || null,
      hctl: hctls[i] ?? null,
      byPath: byPath.get(device.name) ?? null,
      allValues: options.allValues ?? false,
    })
  );
}
