/**
 * The RAID'd EFI system partition of a software RAID install device (spec 12 §7, IPA's
 * `prepare_boot_partitions_for_softraid` and the RAID branch of `manage_uefi`):
 *
 * - an existing RAID 1 carrying vfat is reused; otherwise every holder disk gets a 550 MiB
 *   `uefi-holder-<i>` partition and they become `mdadm --metadata=1.0 --level 1 --name esp`
 *   (superblock at the end, so firmware reads each member as a plain FAT filesystem);
 * - an ESP found in the image written on the md device is copied onto it, keeping its volume
 *   id and label (fstab lines of the image stay valid), and the original is wiped so only one
 *   ESP is left to mount; without one a new array is formatted `efi-part`;
 * - one NVRAM entry per loader and member disk, labelled `<label> (RAID, part<i>)`.
 *
 * Files move with mtools (`mcopy`), as `src/uefi/boot_entries.ts` reads ESPs: the tenant's
 * filesystem never reaches the ramdisk kernel. NVRAM is written only when the ramdisk booted
 * UEFI and the agent is not `--protect-host`; otherwise each entry is logged.
 */
import { SoftwareRAIDError } from "../api/errors.ts";
import { partitionPath, probePartition } from "../image/config_drive_partition.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { findEspNumber, findLoaders, type Loader } from "../uefi/boot_entries.ts";
import { parseBootEntries } from "../uefi/nvram.ts";
import { nextFreeMd } from "./create.ts";
import { ensureHolderPartition, partitionTableType } from "./holders.ts";
import { holderOfPartition, listMdArrays, mdadmDetail } from "./mdadm.ts";

const TOOL_TIMEOUT_MS = 5 * 60 * 1000;
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: "1" };
export const ESP_SIZE = "+550MiB";
export const ESP_HOLDER_PREFIX = "uefi-holder-";

export interface EspRaidOptions {
  runner: Runner;
  log: Logger;
  /** Injected for tests: a fresh empty directory and its removal. */
  makeTempDir?: () => Promise<string>;
  removeDir?: (path: string) => Promise<void>;
}

/**
 * The ESP of the image written on `md`: the first partition flagged `esp` (or `boot` on GPT),
 * else the partition whose UUID, PARTUUID or label is `efiSystemPartUuid`; null when none.
 */
export async function findImageEsp(
  runner: Runner,
  md: string,
  efiSystemPartUuid: string | null,
): Promise<string | null> {
  const parted = await runner.run("parted", ["-s", "-m", md, "unit", "MiB", "print"], {
    timeoutMs: TOOL_TIMEOUT_MS,
    okCodes: [0, 1], // 1: no partition table on the array
  });
  const number = findEspNumber(parted.stdout);
  if (number !== null) return partitionPath(md, number);
  if (!efiSystemPartUuid) return null;
  const { stdout } = await runner.run("lsblk", ["-P", "-p", "-n", "-o", "NAME,TYPE", md], {
    timeoutMs: TOOL_TIMEOUT_MS,
  });
  const wanted = efiSystemPartUuid.toLowerCase();
  for (const line of stdout.split("\n")) {
    const name = /NAME="([^"]*)"/.exec(line)?.[1];
    const type = /TYPE="([^"]*)"/.exec(line)?.[1];
    // Partitions of an md array are TYPE "md" in some lsblk versions, "part" in others.
    if (!name || name === md || (type !== "part" && type !== "md")) continue;
    const fields = await probePartition(runner, name);
    if (
      [fields.UUID, fields.PART_ENTRY_UUID, fields.LABEL].some((v) => v?.toLowerCase() === wanted)
    ) {
      return name;
    }
  }
  return null;
}

/** An existing RAID 1 array carrying vfat (IPA's `find_esp_raid`), or null. */
export async function findEspRaid(runner: Runner): Promise<string | null> {
  for (const md of await listMdArrays(runner)) {
    let level: string | null;
    try {
      level = (await mdadmDetail(runner, md)).level;
    } catch {
      continue; // an inactive md node
    }
    if (level !== "raid1") continue;
    if ((await probePartition(runner, md)).TYPE === "vfat") return md;
  }
  return null;
}

/** The ESP array: found, or built from a new partition on every holder. */
export async function ensureEspRaid(
  options: EspRaidOptions,
  holders: readonly string[],
): Promise<{ md: string; created: boolean }> {
  const { runner, log } = options;
  const found = await findEspRaid(runner);
  if (found) {
    log.info("Found a RAIDed ESP; not creating another", { esp: found });
    return { md: found, created: false };
  }
  // sgdisk would silently convert an MBR to GPT, whose backup header lands on the RAID data
  // at the end of the disk: UEFI from software RAID needs GPT holders (spec 12 §3 step 6).
  for (const holder of holders) {
    const table = await partitionTableType(runner, holder);
    if (table !== "gpt") {
      throw new SoftwareRAIDError(
        `Cannot create an EFI system partition on RAID holder ${holder}: its partition table is ` +
          `${table ?? "unknown"}, not gpt (the RAID was not created for a UEFI node)`,
      );
    }
  }
  const members: string[] = [];
  for (const [i, holder] of holders.entries()) {
    members.push(
      await ensureHolderPartition(runner, holder, {
        size: ESP_SIZE,
        typeCode: "ef00",
        name: `${ESP_HOLDER_PREFIX}${i}`,
      }, log),
    );
  }
  const md = await nextFreeMd(runner);
  log.info("Creating the RAIDed ESP", { esp: md, members: members.join(",") });
  await runner.run("mdadm", [
    "--create",
    md,
    "--force",
    "--run",
    "--metadata=1.0",
    "--level",
    "1",
    "--name",
    "esp",
    "--raid-devices",
    String(members.length),
    ...members,
  ], { timeoutMs: TOOL_TIMEOUT_MS });
  await runner.run("udevadm", ["settle"], { timeoutMs: TOOL_TIMEOUT_MS })
    .catch((err) => log.warn("udevadm settle failed", { error: err }));
  return { md, created: true };
}

/** Top-level entries (`EFI`, `startup.nsh`) of an ESP, by `mdir -/ -b`. */
async function topLevelEntries(runner: Runner, esp: string): Promise<string[]> {
  const { stdout } = await runner.run("mdir", ["-/", "-b", "-i", esp, "::/"], {
    timeoutMs: TOOL_TIMEOUT_MS,
    env: MTOOLS_ENV,
    okCodes: [0, 1], // 1: an empty filesystem ("No files")
  });
  const names = stdout.split("\n").map((l) => l.trim())
    .map((l) => /^::\/([^/]+)\/?$/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n !== "." && n !== "..");
  return [...new Set(names)];
}

/**
 * Formats `md` as vfat with the volume id and label of `imageEsp`, copies its files over, then
 * wipes `imageEsp` (spec 12 §7). Resolves to the number of top-level entries copied.
 */
export async function relocateImageEsp(
  options: EspRaidOptions,
  imageEsp: string,
  md: string,
): Promise<number> {
  const { runner, log } = options;
  const fields = await probePartition(runner, imageEsp);
  if (fields.TYPE !== "vfat") {
    throw new SoftwareRAIDError(
      `Cannot relocate the EFI system partition ${imageEsp} to ${md}: it carries ` +
        `${fields.TYPE ?? "no filesystem"}, not vfat`,
    );
  }
  const entries = await topLevelEntries(runner, imageEsp);
  const dir = await (options.makeTempDir ?? (() => Deno.makeTempDir({ prefix: "agent-esp-" })))();
  try {
    if (entries.length > 0) {
      await mcopy(runner, imageEsp, entries.map((e) => `::/${e}`), `${dir}/`);
    }
    const mkfs = ["-n", fields.LABEL || "esp"];
    // The vfat volume id is 8 hex digits; blkid prints it as XXXX-XXXX.
    const volumeId = (fields.UUID ?? "").replace("-", "");
    if (/^[0-9A-Fa-f]{8}$/.test(volumeId)) mkfs.push("-i", volumeId);
    log.info("Relocating the image's ESP onto the RAIDed ESP", {
      from: imageEsp,
      to: md,
      uuid: fields.UUID ?? "",
      label: fields.LABEL ?? "",
      entries: entries.join(","),
    });
    await runner.run("mkfs.vfat", [...mkfs, md], { timeoutMs: TOOL_TIMEOUT_MS });
    if (entries.length > 0) {
      await mcopy(runner, md, entries.map((e) => `${dir}/${e}`), "::/");
    }
  } finally {
    await (options.removeDir ?? ((p) => Deno.remove(p, { recursive: true })))(dir).catch((err) =>
      log.warn("could not remove the ESP copy directory", { dir, error: err })
    );
  }
  // One ESP left: the instance must not find (and mount) the original by its UUID.
  await runner.run("wipefs", ["-a", imageEsp], { timeoutMs: TOOL_TIMEOUT_MS });
  return entries.length;
}

/** Formats a new ESP array that has nothing to copy. */
export async function formatEmptyEsp(runner: Runner, md: string): Promise<void> {
  await runner.run("mkfs.vfat", ["-n", "efi-part", md], { timeoutMs: TOOL_TIMEOUT_MS });
}

export interface RaidBootEntriesOptions {
  runner: Runner;
  log: Logger;
  /** NVRAM is written only when true (ramdisk booted UEFI, no `--protect-host`). */
  writeNvram: boolean;
}

export interface RaidBootEntry {
  disk: string;
  partition: string;
  label: string;
  loader: string;
}

/**
 * One NVRAM entry per loader of the ESP array and per member disk (IPA: label suffix
 * `(RAID, part<i>)`). Resolves to the entries (made, or only logged), or null when the ESP
 * holds no loader.
 */
export async function raidBootEntries(
  options: RaidBootEntriesOptions,
  espMd: string,
): Promise<{ loaders: Loader[]; entries: RaidBootEntry[] } | null> {
  const { runner, log } = options;
  const loaders = await findLoaders(runner, espMd, log);
  if (loaders.length === 0) {
    log.warn("the RAIDed EFI system partition holds no boot loader", { esp: espMd });
    return null;
  }
  const members = (await mdadmDetail(runner, espMd)).components;
  const existing = options.writeNvram
    ? parseBootEntries(
      (await runner.run("efibootmgr", ["-v"], { timeoutMs: TOOL_TIMEOUT_MS }))
        .stdout,
    )
    : [];
  const entries: RaidBootEntry[] = [];
  for (const [i, member] of members.entries()) {
    const disk = holderOfPartition(member);
    const partition = /(\d+)$/.exec(member)?.[1];
    if (!partition) {
      throw new SoftwareRAIDError(`Cannot tell the partition number of ESP member ${member}`);
    }
    for (const loader of loaders) {
      const label = `${loader.label} (RAID, part${i})`;
      const create = ["-v", "-c", "-d", disk, "-p", partition, "-w", "-L", label, "-l"];
      create.push(loader.path);
      entries.push({ disk, partition, label, loader: loader.path });
      const fields = { esp: espMd, member, label, loader: loader.path };
      if (!options.writeNvram) {
        log.warn("NVRAM not written (ramdisk not booted UEFI, or --protect-host): would add", {
          ...fields,
          command: `efibootmgr ${create.join(" ")}`,
        });
        continue;
      }
      for (const stale of existing.filter((e) => e.label === label)) {
        log.info("removing the UEFI boot entry with the same label", {
          ...fields,
          entry: `Boot${stale.number}`,
        });
        await runner.run("efibootmgr", ["-b", stale.number, "-B"], { timeoutMs: TOOL_TIMEOUT_MS });
      }
      log.info("adding a UEFI boot entry for a RAIDed ESP member", fields);
      await runner.run("efibootmgr", create, { timeoutMs: TOOL_TIMEOUT_MS });
    }
  }
  if (options.writeNvram) await runner.run("sync", [], { timeoutMs: TOOL_TIMEOUT_MS });
  return { loaders, entries };
}

/** Copies `sources` to `target` recursively, keeping times, with `image` as the FAT drive `::`. */
async function mcopy(runner: Runner, image: string, sources: string[], target: string) {
  await runner.run("mcopy", ["-s", "-p", "-m", "-n", "-Q", "-i", image, ...sources, target], {
    timeoutMs: TOOL_TIMEOUT_MS,
    env: MTOOLS_ENV,
  });
}
