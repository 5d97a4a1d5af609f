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
 * Not done (IPA does them): software-RAID roots (md restart, every holder disk), skipping an
 * already-bootable BIOS disk, and copying `/boot/efi/EFI` assets of the image onto a new ESP.
 */
import { CommandExecutionError, DeviceNotFound } from "../api/errors.ts";
import { probePartition } from "../image/config_drive_partition.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";

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
    if (!name || /TYPE="([^"]*)"/.exec(line)?.[1] !== "part") continue;
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

/** Installs the image's GRUB for `options.device`; throws `CommandExecutionError` on failure. */
export async function installGrub(runner: Runner, options: GrubInstallOptions): Promise<void> {
  const { device, log } = options;
  const exists = options.exists ?? lstatExists;
  const root = await partitionByUuid(runner, device, options.rootUuid);
  const esp = options.bootMode === "uefi" && options.efiSystemPartUuid
    ? await partitionByUuid(runner, device, options.efiSystemPartUuid)
    : null;
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
      await inChroot(`${bin}-install ${device}`);
    }
    await inChroot(`${bin}-mkconfig -o /boot/${bin}/grub.cfg`, {
      GRUB_DISABLE_OS_PROBER: "true",
      GRUB_SAVEDEFAULT: "true",
    });
    if (esp && options.efiSystemPartUuid) {
      const line = espFstabLine(options.efiSystemPartUuid);
      // Inside the chroot: a symlinked /etc/fstab resolves within the image.
      // The UUID is shape-checked by the command schema, so it is safe inside quotes.
      const key = line.split("\t")[0]!;
      await inChroot(
        `grep -qF '${key}' /etc/fstab 2>/dev/null || printf '%s\\n' '${line}' >> /etc/fstab`,
      );
    }
    log.info("GRUB installed", fields);
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
