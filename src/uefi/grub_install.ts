/**
 * GRUB installation for partition images (spec 08 §10.5), used by `image.install_bootloader`
 * when `enable_bios_bootloader_install` is true (Ironic 21.4 sends true).
 *
 * The image's own GRUB does the work, as in IPA: the root partition is mounted on a temporary
 * directory, the ramdisk's /dev, /proc, /run and a sysfs are made visible inside it, and
 * `grub-install` / `grub-mkconfig` (or their `grub2-` names) run in a chroot. Everything written
 * inside the image (the fstab line) is written from inside the chroot too, so a symbolic link in
 * a hostile image resolves within the image and never onto the agent's own files.
 *
 * Every mount is undone in `finally` with one recursive unmount of the directory (it also takes
 * the vfat mounts the image's `mount -a` made), then the directory is removed; a failed unmount
 * is an error, as IPA's failed ESP unmount is.
 *
 * UEFI with an ESP: when the image ships its loaders in `/boot/efi/EFI` (spec 08 §10.5 step 3),
 * `grub-mkconfig` runs in the chroot, the assets are copied onto the ESP with mtools
 * (`efi_assets.ts`, no vfat mount), boot entries are added when the ramdisk can write NVRAM
 * (`manageUefi`), the fstab line is added, and nothing else runs. A ramdisk booted BIOS cannot
 * write NVRAM: the copied loaders are then left to the firmware's removable-media path
 * (`EFI/BOOT/BOOTX64.EFI`). When adding the entries fails or finds no loader, the `grub-install`
 * path below runs, as in IPA.
 *
 * Not done (IPA does them): software-RAID roots (md restart, every holder disk), and skipping an
 * already-bootable BIOS disk.
 */
import { CommandExecutionError, DeviceNotFound } from "../api/errors.ts";
import { probePartition } from "../image/config_drive_partition.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { copyEfiAssets, findEfiAssets } from "./efi_assets.ts";

const TOOL_TIMEOUT_MS = 10 * 60 * 1000;
/** IPA extends the chroot's PATH with these; the ramdisk's own PATH means nothing in the image. */
const CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface GrubInstallOptions {
  log: Logger;
  /** The install disk (`grub-install <disk>` for BIOS). */
  device: string;
  rootUuid: string;
  /** UEFI: the ESP, mounted on `/boot/efi` for `grub-install` and named in fstab. */
  efiSystemPartUuid: string | null;
  bootMode: "bios" | "uefi";
  /** Software RAID root: BIOS `grub-install` goes to each of these disks instead of `device`. */
  grubDisks?: readonly string[];
  /** Software RAID root: the RAIDed ESP (`src/raid/boot.ts`), not looked up by UUID. */
  espDevice?: string | null;
  /**
   * Spec 08 §10.4 on the install disk, after the image's EFI assets were copied onto the ESP:
   * resolves to whether boot entries were set up. Null when the ramdisk did not boot UEFI (it
   * cannot write NVRAM).
   */
  manageUefi?: (() => Promise<boolean>) | null;
  /** Injected for tests: a fresh empty directory, and whether a path exists (no symlink follow). */
  makeTempDir?: () => Promise<string>;
  exists?: (path: string) => Promise<boolean>;
  removeDir?: (path: string) => Promise<void>;
}

async function lstatExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The partition of `device` whose UUID, PARTUUID or label is `uuid` (spec 08 §10.3). */
export async function partitionByUuid(
  runner: Runner,
  device: string,
  uuid: string,
): Promise<string> {
  const { stdout } = await runner.run("lsblk", ["-P", "-p", "-n", "-o", "NAME,TYPE", device], {
    timeoutMs: TOOL_TIMEOUT_MS,
  });
  const wanted = uuid.toLowerCase();
  for (const line of stdout.split("\n")) {
    const name = /NAME="([^"]*)"/.exec(line)?.[1];
    const type = /TYPE="([^"]*)"/.exec(line)?.[1];
    // Partitions of an md array are TYPE "md" in some lsblk versions (spec 08 §10.3).
    if (!name || name === device || (type !== "part" && type !== "md")) continue;
    const fields = await probePartition(runner, name);
    if (
      [fields.UUID, fields.PART_ENTRY_UUID, fields.LABEL].some((v) => v?.toLowerCase() === wanted)
    ) {
      return name;
    }
  }
  throw new DeviceNotFound(`No partition with UUID, PARTUUID or label ${uuid} on device ${device}`);
}

/** The fstab line for the ESP (spec 08 §10.5 step 6). */
export function espFstabLine(espUuid: string): string {
  // A 36-character UUID is a GPT partition UUID; a vfat volume id is `XXXX-XXXX`.
  const key = espUuid.length === 36 ? "PARTUUID" : "UUID";
  return `${key}=${espUuid}\t/boot/efi\tvfat\tumask=0077\t0\t1`;
}

interface PreserveOptions {
  log: Logger;
  root: string;
  esp: string;
  exists: (path: string) => Promise<boolean>;
  mkconfig: (bin: string) => Promise<unknown>;
  manageUefi: (() => Promise<boolean>) | null;
}

/**
 * Spec 08 §10.5 step 3: with EFI assets in the image, regenerates its GRUB configuration,
 * copies the assets onto the ESP and sets up boot entries. Resolves to false when the image has
 * none, or when boot entries could not be set up (the caller then runs `grub-install`).
 */
async function preserveEfiAssets(runner: Runner, options: PreserveOptions): Promise<boolean> {
  const { log, root, esp } = options;
  const assets = await findEfiAssets(root);
  if (!assets) {
    log.info("the image has no EFI assets to copy; installing GRUB", { esp });
    return false;
  }
  for (const name of ["grub2", "grub"]) {
    if (await options.exists(`${root}/usr/sbin/${name}-mkconfig`)) {
      await options.mkconfig(name);
      break;
    }
  }
  await copyEfiAssets(runner, { log, root, esp, assets });
  if (!options.manageUefi) {
    log.warn(
      "the ramdisk did not boot UEFI: no boot entry is added, the firmware must find the " +
        "loader on its removable-media path",
      { esp, loader_dirs: assets.loaderDirs.join(",") },
    );
    return true;
  }
  try {
    if (await options.manageUefi()) return true;
    log.warn("no boot loader found on the ESP after copying the image's EFI assets", { esp });
  } catch (err) {
    log.warn("setting up boot entries for the image's EFI assets failed", { esp, error: err });
  }
  return false;
}

/** Installs the image's GRUB for `options.device`; throws `CommandExecutionError` on failure. */
export async function installGrub(runner: Runner, options: GrubInstallOptions): Promise<void> {
  const { device, log } = options;
  const exists = options.exists ?? lstatExists;
  const root = await partitionByUuid(runner, device, options.rootUuid);
  let esp: string | null = null;
  if (options.bootMode === "uefi" && options.espDevice) esp = options.espDevice;
  else if (options.bootMode === "uefi" && options.efiSystemPartUuid) {
    esp = await partitionByUuid(runner, device, options.efiSystemPartUuid);
  }
  const dir = await (options.makeTempDir ?? (() => Deno.makeTempDir({ prefix: "agent-grub-" })))();
  const fields = { device, root, esp: esp ?? undefined, mountpoint: dir };
  const run = (cmd: string, args: string[], env?: Record<string, string>) =>
    runner.run(cmd, args, { timeoutMs: TOOL_TIMEOUT_MS, ...(env ? { env } : {}) });
  const inChroot = (script: string, env: Record<string, string> = {}) =>
    run("chroot", [dir, "/bin/sh", "-c", script], { PATH: CHROOT_PATH, ...env });
  let mounted = false;
  let unmounted = false;
  let failure: unknown = null;
  log.info("installing GRUB from the image", { ...fields, boot_mode: options.bootMode });
  try {
    await run("mount", [root, dir]);
    mounted = true;
    for (const fs of ["/dev", "/proc", "/run"]) await run("mount", ["--bind", fs, `${dir}${fs}`]);
    await run("mount", ["-t", "sysfs", "none", `${dir}/sys`]);
    const bin = await exists(`${dir}/usr/sbin/grub2-install`) ? "grub2" : "grub";
    log.info("GRUB binaries chosen", { ...fields, bin });
    const mkconfig = (name: string) =>
      inChroot(`${name}-mkconfig -o /boot/${name}/grub.cfg`, {
        GRUB_DISABLE_OS_PROBER: "true",
        GRUB_SAVEDEFAULT: "true",
      });
    const appendFstab = async (espUuid: string) => {
      const line = espFstabLine(espUuid);
      // Inside the chroot: a symlinked /etc/fstab resolves within the image.
      // The UUID is shape-checked by the command schema, so it is safe inside quotes.
      const key = line.split("\t")[0]!;
      await inChroot(
        `grep -qF '${key}' /etc/fstab 2>/dev/null || printf '%s\\n' '${line}' >> /etc/fstab`,
      );
    };
    // A RAIDed ESP already holds the image's ESP (spec 12 §7): IPA preserves nothing for md.
    const preserved = esp && options.efiSystemPartUuid && !options.espDevice
      ? await preserveEfiAssets(runner, {
        log,
        root: dir,
        esp,
        exists,
        mkconfig,
        manageUefi: options.manageUefi ?? null,
      })
      : false;
    if (!preserved) {
      await inChroot("mount -a -t vfat");
      if (esp) {
        await inChroot("mkdir -p /boot/efi");
        await run("mount", [esp, `${dir}/boot/efi`]);
        // IPA ignores these failures: the removable path alone boots most firmware.
        for (const extra of ["", " --removable"]) {
          await inChroot(`${bin}-install${extra}`).catch((err) =>
            log.warn("grub-install for UEFI failed; continuing", { ...fields, error: err })
          );
        }
      } else {
        for (const disk of options.grubDisks ?? [device]) {
          await inChroot(`${bin}-install ${disk}`);
        }
      }
      await mkconfig(bin);
    }
    if (esp && options.efiSystemPartUuid) await appendFstab(options.efiSystemPartUuid);
    log.info(preserved ? "GRUB set up from the image's EFI assets" : "GRUB installed", fields);
  } catch (err) {
    failure = err;
  } finally {
    if (mounted) {
      await run("umount", ["-R", dir]).then(() => unmounted = true, (err) => {
        failure ??= err;
        log.error("could not unmount the image's root", { ...fields, error: err });
      });
    }
    // A directory still mounted is left in place rather than removed through the mount.
    if (!mounted || unmounted) {
      await (options.removeDir ?? ((p) => Deno.remove(p)))(dir).catch((err) =>
        log.warn("could not remove the GRUB mount point", { ...fields, error: err })
      );
    }
  }
  if (failure !== null) {
    const reason = failure instanceof Error ? failure.message : String(failure);
    throw new CommandExecutionError(
      `Installing GRUB2 boot loader to device ${device} failed with ${reason}`,
      { cause: failure },
    );
  }
}
