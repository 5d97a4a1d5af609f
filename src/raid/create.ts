/**
 * `raid.create_configuration` (spec 12 §3): partitions the holder disks and builds one md
 * array per logical disk with mdadm. Every holder passes the fence before the first one is
 * partitioned, so a refused disk leaves all disks as they were.
 */
import { SoftwareRAIDError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { findDevicesByHints, parseRootDeviceHints } from "../hints/root_device.ts";
import { findSkippedDevices, getSkipList } from "../hints/skip_list.ts";
import { listBlockDevices } from "../inventory/block_devices.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { Logger } from "../log.ts";
import { assertMayWrite, type FenceOptions } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";
import { listDirectory, pathExists } from "../system/sysfs.ts";
import { classifiedArrays } from "./arrays.ts";
import {
  type LogicalDisk,
  minimumDisks,
  softwareLogicalDisks,
  validateRaidConfig,
} from "./config.ts";
import { mdadmDetail, partitionName } from "./mdadm.ts";
import type { RaidState } from "./state.ts";

export interface RaidOptions {
  runner: Runner;
  log: Logger;
  node: Node;
  onlyBlockDevices: readonly string[];
  fence?: FenceOptions;
  state: RaidState;
  /** Overrides boot-mode detection (node capabilities, then /sys/firmware/efi). */
  uefi?: boolean;
}

function capability(value: unknown, key: string): string | null {
  if (typeof value === "string") {
    for (const pair of value.split(",")) {
      const [k, v] = pair.split(":");
      if (k?.trim() === key && v !== undefined) return v.trim();
    }
  } else if (typeof value === "object" && value !== null) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === "string") return v;
  }
  return null;
}

/** The node's boot mode as Ironic states it, else how this machine booted. */
async function isUefi(runner: Runner, node: Node): Promise<boolean> {
  const stated = capability(node.instance_info?.capabilities, "boot_mode") ??
    capability(node.properties?.capabilities, "boot_mode") ??
    (typeof node.driver_internal_info?.deploy_boot_mode === "string"
      ? node.driver_internal_info.deploy_boot_mode
      : null);
  if (stated !== null) return stated === "uefi";
  return await pathExists(runner, "/sys/firmware/efi");
}

/** Partitions of `disk` (by lsblk, so the kernel's view: what mdadm and parted will see). */
export async function diskPartitions(runner: Runner, disk: string): Promise<string[]> {
  const { stdout } = await runner.run("lsblk", ["-bia", "--json", "-oKNAME,TYPE", disk], {
    timeoutMs: 60_000,
  });
  const rows = (JSON.parse(stdout) as { blockdevices?: { kname?: string; type?: string }[] })
    .blockdevices ?? [];
  return rows.filter((r) => r.type === "part" && r.kname).map((r) => `/dev/${r.kname}`);
}

/** The lowest `/dev/md<N>` the kernel does not know yet. */
export async function nextFreeMd(runner: Runner): Promise<string> {
  const used = new Set(await listDirectory(runner, "/sys/block"));
  for (let i = 0; i < 128; i++) if (!used.has(`md${i}`)) return `/dev/md${i}`;
  throw new SoftwareRAIDError("Cannot create a RAID array: /dev/md0 to /dev/md127 are all in use");
}

/** One holder list per logical disk (spec 12 §3 step 4). */
function selectHolders(disks: readonly LogicalDisk[], candidates: readonly BlockDevice[]) {
  return disks.map((disk, i) => {
    let holders: string[];
    if (disk.physicalDisks === null) holders = candidates.map((d) => d.name);
    else {
      holders = [];
      for (const hint of disk.physicalDisks) {
        const parsed = parseRootDeviceHints(hint);
        const match = parsed
          ? findDevicesByHints(candidates, parsed).find((d) => !holders.includes(d.name))
          : undefined;
        if (!match) {
          throw new SoftwareRAIDError(
            `Cannot create logical disk ${i}: no free disk matches physical_disks hint ` +
              JSON.stringify(hint),
          );
        }
        holders.push(match.name);
      }
    }
    if (holders.length < minimumDisks(disk.level)) {
      throw new SoftwareRAIDError(
        `Cannot create logical disk ${i} (RAID ${disk.level}): it needs at least ` +
          `${minimumDisks(disk.level)} disks, ${holders.length} available (${holders.join(", ")})`,
      );
    }
    return holders;
  });
}

async function rescan(runner: Runner, disk: string, log: Logger): Promise<void> {
  // partx -u adds and drops kernel partitions to match the table; exit 1 when nothing changed.
  await runner.run("partx", ["-u", disk], { timeoutMs: 60_000, okCodes: [0, 1] });
  await runner.run("udevadm", ["settle"], { timeoutMs: 180_000 })
    .catch((err) => log.warn("udevadm settle failed", { error: err }));
}

/** Creates the arrays of `raidConfig`; resolves to the configuration as given. */
export async function createConfiguration(
  options: RaidOptions,
  raidConfig: unknown,
): Promise<unknown> {
  const { runner, log, node } = options;
  if (softwareLogicalDisks(raidConfig).length === 0) {
    log.info("No software RAID logical disks in the configuration; nothing to create");
    return {};
  }
  const skipList = getSkipList(node);
  const logical = validateRaidConfig(node, raidConfig, {
    volumeNamesRequired: skipList.volumeNames.length > 0,
  });

  let kept: string[] = [];
  if (skipList.volumeNames.length > 0) {
    const arrays = await classifiedArrays(runner, {
      onlyBlockDevices: options.onlyBlockDevices,
      protectedNames: skipList.volumeNames,
    });
    const stray = arrays.filter((a) => a.action !== "keep");
    if (stray.length > 0) {
      throw new SoftwareRAIDError(
        "Existing Software RAID device detected that should not be there: " +
          stray.map((a) => `${a.device} (${a.detail.name ?? "unnamed"})`).join(", "),
      );
    }
    kept = arrays.map((a) => a.detail.name!);
  }
  const toCreate = logical.filter((d) => d.volumeName === null || !kept.includes(d.volumeName));
  if (toCreate.length === 0) {
    log.info("Every logical disk is a kept volume; nothing to create", { kept: kept.join(",") });
    return raidConfig;
  }

  const all = await listBlockDevices(runner, {
    onlyBlockDevices: options.onlyBlockDevices,
    allValues: true,
    log,
  });
  const skipped = new Set(findSkippedDevices(all, skipList, log).map((d) => d.name));
  const candidates = all.filter((d) => !skipped.has(d.name) && !(d.type ?? "").includes("raid"));
  // Logical disks with size MAX take what the others leave, so they are laid out last.
  const ordered = [
    ...toCreate.filter((d) => d.sizeGb !== "MAX"),
    ...toCreate.filter((d) => d.sizeGb === "MAX"),
  ];
  const holdersPerDisk = selectHolders(ordered, candidates);
  const holders = [...new Set(holdersPerDisk.flat())];
  if (options.fence) {
    for (const holder of holders) assertMayWrite(options.fence, holder, "partition");
  }

  const existing = new Map<string, number>();
  for (const holder of holders) {
    const parts = await diskPartitions(runner, holder);
    existing.set(holder, parts.length);
    if (kept.length === 0 && parts.length > 0) {
      throw new SoftwareRAIDError(
        `Partitions detected on devices ${holder} (${parts.join(", ")}) during RAID config; ` +
          "erase them (raid.delete_configuration or erase_devices_metadata) first",
      );
    }
  }

  const uefi = options.uefi ?? await isUefi(runner, node);
  const label = uefi ? "gpt" : capability(node.properties?.capabilities, "disk_label") ?? "msdos";
  log.info("Creating software RAID", { holders: holders.join(","), label, uefi });

  // partitions[i][holder] = the partition of logical disk i on that holder.
  const partitions: Map<string, string>[] = ordered.map(() => new Map());
  for (const holder of holders) {
    let start: string;
    if (kept.length === 0) {
      await runner.run("parted", [holder, "-s", "--", "mklabel", label], { timeoutMs: 60_000 });
    }
    if (uefi) start = "551MiB"; // room for a 550 MiB ESP
    else if (label === "gpt") start = "8MiB"; // room for a BIOS boot partition
    else {
      const { stdout } = await runner.run("sgdisk", ["-F", holder], { timeoutMs: 60_000 });
      start = `${stdout.trim().split(/\s+/).at(-1)}s`;
    }
    let number = existing.get(holder) ?? 0;
    let endGiB = 0;
    for (const [i, disk] of ordered.entries()) {
      if (!holdersPerDisk[i]!.includes(holder)) continue;
      let end: string;
      if (disk.sizeGb === "MAX") end = "-1";
      else {
        endGiB += disk.sizeGb;
        end = `${endGiB}GiB`;
      }
      await runner.run("parted", [
        holder,
        "-s",
        "-a",
        "optimal",
        "--",
        "mkpart",
        "primary",
        start,
        end,
      ], {
        timeoutMs: 60_000,
      });
      partitions[i]!.set(holder, partitionName(holder, ++number));
      start = end;
    }
    await rescan(runner, holder, log);
  }

  for (const [i, disk] of ordered.entries()) {
    const md = await nextFreeMd(runner);
    const members = holdersPerDisk[i]!.map((h) => partitions[i]!.get(h)!);
    const level = disk.level === "1+0" ? "10" : disk.level;
    const name = disk.volumeName ?? md.slice(5);
    log.info("Creating md array", { md, level, name, members: members.join(",") });
    await runner.run("mdadm", [
      "--create",
      md,
      "--force",
      "--run",
      "--metadata=1",
      "--level",
      level,
      "--name",
      name,
      "--raid-devices",
      String(members.length),
      ...members,
    ], { timeoutMs: 300_000 });
    // A member udev was still probing can be left out; add it back (spec 12 §3 step 8).
    for (let attempt = 1; attempt <= 3; attempt++) {
      const present = (await mdadmDetail(runner, md)).components;
      const missing = members.filter((m) => !present.includes(m));
      if (missing.length === 0) break;
      if (attempt === 3) {
        throw new SoftwareRAIDError(
          `Array ${md} is missing member(s) ${missing.join(", ")} after 3 tries`,
        );
      }
      for (const member of missing) {
        log.warn("Re-adding a missing RAID member", { md, member });
        await runner.run("mdadm", ["--add", md, member], { timeoutMs: 60_000 }).catch((err) =>
          log.warn("mdadm --add failed", { md, member, error: err })
        );
      }
    }
    if (disk.isRootVolume) options.state.rootVolume = md;
    else options.state.otherDevices.push(md, ...members, ...holdersPerDisk[i]!);
  }
  return raidConfig;
}
