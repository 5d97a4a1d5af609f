/**
 * `image.install_bootloader` when the install device is a software RAID array (spec 12 §7,
 * spec 08 §10):
 *
 * - UEFI target (`setupRaidUefi`): the RAIDed ESP is found or built on the holder disks, the
 *   image's ESP relocated onto it, and one NVRAM entry added per loader and member disk. This
 *   runs whatever the ramdisk booted: the partitions serve the instance, only the NVRAM write
 *   needs a UEFI-booted ramdisk (else it is logged).
 * - GRUB on md (`prepareRaidGrub`): the array is restarted (so GRUB sees it as assembled at
 *   boot), then for UEFI the ESP array is the one GRUB installs to; for BIOS every GPT holder
 *   gets a 2 MiB BIOS boot partition and GRUB goes to every holder disk.
 *
 * Every holder passes the `--protect-host` fence before anything is written.
 */
import type { Logger } from "../log.ts";
import { probePartition } from "../image/config_drive_partition.ts";
import { rescanDevice } from "../image/partition_table.ts";
import { assertMayWrite, type FenceOptions } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";
import type { Loader } from "../uefi/boot_entries.ts";
import {
  ensureEspRaid,
  findImageEsp,
  formatEmptyEsp,
  raidBootEntries,
  type RaidBootEntry,
  relocateImageEsp,
} from "./esp.ts";
import { ensureHolderPartition, partitionTableType } from "./holders.ts";
import { holderDisks, mdadmDetail } from "./mdadm.ts";

export const BIOS_BOOT_PREFIX = "bios-boot-part-";

/** `/dev/md0`, `/dev/md127`: the install devices RAID creation produces. */
export function isMdDevice(device: string): boolean {
  return /^\/dev\/md\d+$/.test(device);
}

export interface RaidBootOptions {
  runner: Runner;
  log: Logger;
  /** The md install device. */
  device: string;
  fence: FenceOptions;
  efiSystemPartUuid: string | null;
  /** Whether the ramdisk booted UEFI: NVRAM is written only then (and without protect-host). */
  bootedUefi: boolean;
  makeTempDir?: () => Promise<string>;
  removeDir?: (path: string) => Promise<void>;
}

async function fencedHolders(options: RaidBootOptions, action: string): Promise<string[]> {
  const holders = holderDisks(await mdadmDetail(options.runner, options.device));
  for (const holder of holders) assertMayWrite(options.fence, holder, action);
  return holders;
}

/** Finds or builds the ESP array and moves the image's ESP (if any) onto it. */
async function espArray(options: RaidBootOptions, holders: string[]): Promise<string> {
  const { runner, log, device } = options;
  let imageEsp = await findImageEsp(runner, device, options.efiSystemPartUuid);
  if (imageEsp && (await probePartition(runner, imageEsp)).TYPE !== "vfat") {
    // Already relocated by an earlier install_bootloader (wiped), or not a FAT ESP at all.
    log.info("The image's ESP partition carries no vfat; nothing to relocate", { imageEsp });
    imageEsp = null;
  }
  const { md, created } = await ensureEspRaid(options, holders);
  if (imageEsp) await relocateImageEsp(options, imageEsp, md);
  else if (created) {
    log.info("No ESP in the image on the RAID device; formatting an empty one", { esp: md });
    await formatEmptyEsp(runner, md);
  }
  return md;
}

export interface RaidUefiResult {
  /** The ESP array. */
  esp: string;
  loaders: Loader[];
  entries: RaidBootEntry[];
}

/**
 * UEFI boot from software RAID. Resolves to null when the ESP holds no loader (GRUB is then
 * the way to a bootable instance, as IPA's "empty ESP").
 */
export async function setupRaidUefi(options: RaidBootOptions): Promise<RaidUefiResult | null> {
  const holders = await fencedHolders(options, "create an EFI system partition on");
  options.log.info("Setting up UEFI boot from software RAID", {
    device: options.device,
    holders: holders.join(","),
  });
  const esp = await espArray(options, holders);
  const made = await raidBootEntries({
    runner: options.runner,
    log: options.log,
    writeNvram: options.bootedUefi && !options.fence.protectHost,
  }, esp);
  return made ? { esp, ...made } : null;
}

/** `mdadm --stop` and `--assemble` with the same members, then the array's partitions again. */
export async function restartArray(runner: Runner, md: string, log: Logger): Promise<void> {
  const members = (await mdadmDetail(runner, md)).components;
  log.info("Restarting the software RAID root device", { md, members: members.join(",") });
  await runner.run("mdadm", ["--stop", md], { timeoutMs: 120_000 });
  await runner.run("mdadm", ["--assemble", md, ...members], { timeoutMs: 300_000 });
  await rescanDevice(runner, md, { log });
}

export interface RaidGrubPlan {
  /** Disks `grub-install` writes to for BIOS: every holder. */
  grubDisks: string[];
  /** UEFI: the ESP array GRUB installs into; null for BIOS. */
  espDevice: string | null;
}

/** Prepares GRUB installation on an md root (spec 08 §10.5 step 1, spec 12 §7). */
export async function prepareRaidGrub(
  options: RaidBootOptions & { bootMode: "bios" | "uefi" },
): Promise<RaidGrubPlan> {
  const { runner, log, device } = options;
  const holders = await fencedHolders(options, "install GRUB on");
  await restartArray(runner, device, log);
  if (options.bootMode === "uefi") {
    return { grubDisks: holders, espDevice: await espArray(options, holders) };
  }
  for (const [i, holder] of holders.entries()) {
    if (await partitionTableType(runner, holder) !== "gpt") continue;
    await ensureHolderPartition(runner, holder, {
      size: "+2MiB",
      typeCode: "ef02",
      name: `${BIOS_BOOT_PREFIX}${i}`,
    }, log);
  }
  return { grubDisks: holders, espDevice: null };
}
