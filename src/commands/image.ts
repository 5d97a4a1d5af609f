/**
 * The `image` extension: `install_bootloader` (spec 03 §4, spec 08 §10.2).
 *
 * Real Ironic calls it after every UEFI whole-disk deploy. A whole-disk image whose root uuid is
 * the disk identifier `0x00000000` (or null) needs nothing when the ramdisk did not boot UEFI.
 */
import { z } from "zod";
import { DeploymentError, InvalidImage } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { command, type CommandSpec } from "./registry.ts";

export interface ImageDeps {
  /** Whether the ramdisk booted UEFI (`/sys/firmware/efi` exists). */
  bootedUefi(): Promise<boolean>;
  ignoreBootloaderFailure: boolean | null;
  enableBiosBootloaderInstall(): boolean;
}

export function imageCommands(deps: ImageDeps): CommandSpec[] {
  return [
    command({
      name: "image.install_bootloader",
      async: true,
      params: z.looseObject({
        root_uuid: z.string().nullable().optional(),
        efi_system_part_uuid: z.string().nullable().optional(),
        prep_boot_part_uuid: z.string().nullable().optional(),
        target_boot_mode: z.string().nullable().optional(),
        ignore_bootloader_failure: z.boolean().nullable().optional(),
      }),
      async run(params, ctx) {
        const ignore = params.ignore_bootloader_failure ?? deps.ignoreBootloaderFailure ?? false;
        const fail = (err: Error, log: Logger) => {
          if (!ignore) throw err;
          log.warn("ignoring boot loader failure", { error: err.message });
          return null;
        };
        if (await deps.bootedUefi()) {
          // TODO(#5): manage UEFI boot entries (spec 08 §10.4).
          return fail(
            new DeploymentError(
              "Creating UEFI boot entries is not supported by this agent yet (root_uuid " +
                `${params.root_uuid ?? "null"}, efi_system_part_uuid ${
                  params.efi_system_part_uuid ?? "null"
                })`,
            ),
            ctx.log,
          );
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
        // TODO(#5): GRUB installation for partition images (spec 08 §10.5).
        return fail(
          new DeploymentError(
            `Installing GRUB for root ${root} is not supported by this agent yet`,
          ),
          ctx.log,
        );
      },
    }),
  ];
}
