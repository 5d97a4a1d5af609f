import assert from "node:assert/strict";
import { CommandExecutionError, InvalidImage } from "../api/errors.ts";
import { Logger } from "../log.ts";
import { imageCommands, type ImageDeps } from "./image.ts";

const log = new Logger({ test: "image_commands" });
const ctx = { id: "c1", log, signal: new AbortController().signal, progress: () => {} };
type GrubCall = Parameters<ImageDeps["installGrub"]>[0];

function installBootloader(options: { enabled: boolean; grub?: () => Promise<void> }) {
  const calls: GrubCall[] = [];
  const [spec] = imageCommands({
    bootedUefi: () => Promise.resolve(false),
    ignoreBootloaderFailure: null,
    enableBiosBootloaderInstall: () => options.enabled,
    manageUefi: () => Promise.reject(new Error("not booted UEFI")),
    installGrub: (call) => {
      calls.push(call);
      return options.grub?.() ?? Promise.resolve();
    },
  });
  return { calls, run: (params: Record<string, unknown>) => spec!.run(params, ctx) };
}

const ROOT = "9f1c5c1e-1111-4c2b-8c7a-55e5d7b4a0d1";

Deno.test("install_bootloader installs GRUB for a partition image when enabled", async () => {
  const c = installBootloader({ enabled: true });
  assert.equal(
    await c.run({ root_uuid: ROOT, efi_system_part_uuid: "6E3A-19F2", target_boot_mode: "uefi" }),
    null,
  );
  assert.deepEqual(c.calls.map(({ log: _, ...rest }) => rest), [
    { rootUuid: ROOT, efiSystemPartUuid: "6E3A-19F2", bootMode: "uefi" },
  ]);
});

Deno.test("install_bootloader takes the ramdisk's boot mode without target_boot_mode", async () => {
  const c = installBootloader({ enabled: true });
  await c.run({ root_uuid: ROOT });
  assert.equal(c.calls[0]?.bootMode, "bios");
  assert.equal(c.calls[0]?.efiSystemPartUuid, null);
});

Deno.test("install_bootloader refuses BIOS GRUB when disabled, without trying it", async () => {
  const c = installBootloader({ enabled: false });
  await assert.rejects(c.run({ root_uuid: ROOT }), InvalidImage);
  assert.equal(c.calls.length, 0);
});

Deno.test("install_bootloader reports a GRUB failure unless told to ignore it", async () => {
  const failing = () => Promise.reject(new CommandExecutionError("grub-install exploded"));
  const c = installBootloader({ enabled: true, grub: failing });
  await assert.rejects(c.run({ root_uuid: ROOT }), /grub-install exploded/);
  assert.equal(await c.run({ root_uuid: ROOT, ignore_bootloader_failure: true }), null);
});

Deno.test("install_bootloader needs no GRUB for a whole-disk image", async () => {
  const c = installBootloader({ enabled: true });
  assert.equal(await c.run({ root_uuid: "0x00000000" }), null);
  assert.equal(c.calls.length, 0);
});

Deno.test("install_bootloader sets up UEFI boot from software RAID before anything else", async (t) => {
  const run = (raid: boolean | null, bootedUefi: boolean) => {
    const seen: string[] = [];
    const [spec] = imageCommands({
      bootedUefi: () => Promise.resolve(bootedUefi),
      ignoreBootloaderFailure: null,
      enableBiosBootloaderInstall: () => true,
      softwareRaidUefi: () => {
        seen.push("raid");
        return Promise.resolve(raid);
      },
      manageUefi: () => {
        seen.push("manageUefi");
        return Promise.resolve(null);
      },
      installGrub: () => {
        seen.push("grub");
        return Promise.resolve();
      },
    });
    return { seen, run: (params: Record<string, unknown>) => spec!.run(params, ctx) };
  };
  await t.step("md device, loaders found: done, even on a BIOS-booted ramdisk", async () => {
    const c = run(true, false);
    assert.equal(await c.run({ root_uuid: ROOT, target_boot_mode: "uefi" }), null);
    assert.deepEqual(c.seen, ["raid"]);
  });
  await t.step("md device, empty ESP: no per-disk manageUefi, GRUB next", async () => {
    const c = run(false, true);
    await c.run({ root_uuid: ROOT, target_boot_mode: "uefi" });
    assert.deepEqual(c.seen, ["raid", "grub"]);
  });
  await t.step("not an md device: the usual path", async () => {
    const c = run(null, true);
    await c.run({ root_uuid: ROOT, target_boot_mode: "uefi" });
    assert.deepEqual(c.seen, ["raid", "manageUefi", "grub"]);
  });
  await t.step("BIOS target: no RAID ESP", async () => {
    const c = run(true, false);
    await c.run({ root_uuid: ROOT, target_boot_mode: "bios" });
    assert.deepEqual(c.seen, ["grub"]);
  });
});
