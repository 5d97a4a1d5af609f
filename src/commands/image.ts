/**
 * The `image` extension: `install_bootloader` (spec 03 §4, spec 08 §10.2).
 *
 * Real Ironic calls it after every UEFI whole-disk deploy and every partition-image deploy. When
 * the ramdisk booted UEFI, boot entries are added for the loaders on the install disk's ESP
 * (`src/uefi/boot_entries.ts`, spec 08 §10.4). A whole-disk image whose root uuid is the disk
 * identifier `0x00000000` (or null) then needs nothing more. Otherwise, when
 * `enable_bios_bootloader_install` is on, the image's GRUB is installed (`src/uefi/grub_install.ts`).
 * A software RAID install device with a UEFI target first gets its RAIDed ESP and per-member
 * boot entries (`src/raid/boot.ts`, spec 12 §7), also when the ramdisk booted BIOS.
 */
import { z } from "zod";
import { AgentError, DeploymentError, InvalidImage } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { ManageUefiResult } from "../uefi/boot_entries.ts";
import { command, type CommandSpec } from "./registry.ts";
import { bootModeSchema, partitionUuidSchema } from "./safe_values.ts";

export interface ImageDeps {
  /** Whether the ramdisk booted UEFI (`/sys/firmware/efi` exists). */
  bootedUefi(): Promise<boolean>;
  ignoreBootloaderFailure: boolean | null;
  enableBiosBootloaderInstall(): boolean;
  /** Spec 08 §10.4 on the install disk; null when its ESP holds no boot loader. */
  manageUefi(
    options: { efiSystemPartUuid: string | null; log: Logger },
  ): Promise<ManageUefiResult | null>;
  /**
   * Spec 12 §7 for a software RAID install device and a UEFI target: RAIDed ESP and boot entries
   * (`src/raid/boot.ts`). Resolves to null when the install device is not an md array, else to
   * whether UEFI boot is set up (false: the ESP holds no loader, GRUB must do it).
   */
  softwareRaidUefi?(
    options: { efiSystemPartUuid: string | null; log: Logger },
  ): Promise<boolean | null>;
  /** Spec 08 §10.5 on the install disk (`src/uefi/grub_install.ts`). */
  installGrub(options: {
    rootUuid: string;
    efiSystemPartUuid: string | null;
    bootMode: "bios" | "uefi";
    log: Logger;
  }): Promise<void>;
}

export function imageCommands(deps: ImageDeps): CommandSpec[] {
  return [
    command({
      name: "image.install_bootloader",
      async: true,
      params: z.looseObject({
        // These become blkid/mount/efibootmgr arguments (spec 08 §10): shape-checked here.
        root_uuid: partitionUuidSchema(),
        efi_system_part_uuid: partitionUuidSchema(),
        prep_boot_part_uuid: partitionUuidSchema(),
        target_boot_mode: bootModeSchema(),
        ignore_bootloader_failure: z.boolean().nullable().optional(),
      }),
      async run(params, ctx) {
        const ignore = params.ignore_bootloader_failure ?? deps.ignoreBootloaderFailure ?? false;
        const fail = (err: Error, log: Logger) => {
          if (!ignore) throw err;
          log.warn("ignoring boot loader failure", { error: err.message });
          return null;
        };
        // A software RAID install device gets its own ESP handling (spec 12 §7), whatever the
        // ramdisk booted: the partitions are for the instance, only NVRAM needs a UEFI ramdisk.
        let onRaid = false;
        const targetUefi = params.target_boot_mode
          ? params.target_boot_mode === "uefi"
          : await deps.bootedUefi();
        if (deps.softwareRaidUefi && targetUefi) {
          try {
            const done = await deps.softwareRaidUefi({
              efiSystemPartUuid: params.efi_system_part_uuid ?? null,
              log: ctx.log,
            });
            onRaid = done !== null;
            if (done) {
              ctx.log.info("UEFI boot from software RAID set up");
              return null;
            }
          } catch (err) {
            onRaid = true;
            fail(
              err instanceof AgentError ? err : new DeploymentError(
                `Setting up UEFI boot from software RAID failed: ${
                  err instanceof Error ? err.message : err
                }`,
                { cause: err },
              ),
              ctx.log,
            );
          }
        }
        if (!onRaid && await deps.bootedUefi()) {
          if (params.target_boot_mode && params.target_boot_mode !== "uefi") {
            ctx.log.warn("target boot mode differs from the ramdisk's (uefi)", {
              target_boot_mode: params.target_boot_mode,
            });
          }
          try {
            const done = await deps.manageUefi({
              efiSystemPartUuid: params.efi_system_part_uuid ?? null,
              log: ctx.log,
            });
            if (done) {
              ctx.log.info("UEFI boot entries set up", {
                esp: done.esp,
                loaders: done.loaders.map((l) => `${l.label}=${l.path}`).join(","),
              });
              return null;
            }
          } catch (err) {
            const error = err instanceof AgentError ? err : new DeploymentError(
              `Setting up UEFI boot entries failed (efi_system_part_uuid ${
                params.efi_system_part_uuid ?? "null"
              }): ${err instanceof Error ? err.message : err}`,
              { cause: err },
            );
            fail(error, ctx.log);
          }
        }
        const root = params.root_uuid ?? null;
        if (root === null || root === "0x00000000") {
          ctx.log.info("no boot loader to install: whole-disk image", { root_uuid: root });
          return null;
        }
        if (!deps.enableBiosBootloaderInstall()) {
          return fail(
            new InvalidImage(
              "Install of legacy BIOS bootloaders disabled by CONF.enable_bios_bootloader_install " +
                `(root_uuid ${root})`,
            ),
            ctx.log,
          );
        }
        const bootMode = params.target_boot_mode === "uefi" || params.target_boot_mode === "bios"
          ? params.target_boot_mode
          : await deps.bootedUefi()
          ? "uefi"
          : "bios";
        try {
          await deps.installGrub({
            rootUuid: root,
            efiSystemPartUuid: params.efi_system_part_uuid ?? null,
            bootMode,
            log: ctx.log,
          });
          return null;
        } catch (err) {
          return fail(
            err instanceof AgentError ? err : new DeploymentError(
              `Installing GRUB for root ${root} failed: ${
                err instanceof Error ? err.message : err
              }`,
              { cause: err },
            ),
            ctx.log,
          );
        }
      },
    }),
  ];
}
