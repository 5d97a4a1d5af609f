/**
 * `manageUefi()` on a real vfat ESP in a GPT partition of a loop device, read with the real
 * parted/blkid/mtools; only `efibootmgr` is scripted (the NVRAM is the host's), with the recorded
 * OVMF listing. Parsers are checked against recorded tool output.
 */
import assert from "node:assert/strict";
import { DeploymentError, DeviceNotFound } from "../api/errors.ts";
import { imageCommands } from "../commands/image.ts";
import { Logger } from "../log.ts";
import { type Runner, systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice } from "../../tests/harness/loop.ts";
import {
  findEspNumber,
  manageUefi,
  type ManageUefiResult,
  parseBootCsv,
  parseMdirBare,
} from "./boot_entries.ts";

const log = new Logger({ test: "boot_entries" });
const OVMF = await Deno.readTextFile(
  new URL("../../testdata/efibootmgr/ovmf-v17-hand.txt", import.meta.url),
);
const testdata = (path: string) => new URL(`../../testdata/${path}`, import.meta.url);

Deno.test("findEspNumber() takes the esp flag, or boot on GPT only", async () => {
  const gpt = await Deno.readTextFile(testdata("parted/uefi-layout-gpt-3.5.txt"));
  assert.equal(findEspNumber(gpt), 1);
  const msdos = await Deno.readTextFile(testdata("parted/bios-layout-msdos-3.5.txt"));
  assert.equal(findEspNumber(msdos), null, "a boot flag on msdos is not an ESP");
});

Deno.test("parseMdirBare() lists files, not directories, of a recorded mdir", async () => {
  const out = await Deno.readTextFile(testdata("mtools/mdir-recursive-bare-4.0.32.txt"));
  assert.deepEqual(parseMdirBare(out), [
    "/EFI/BOOT/BOOTX64.EFI",
    "/EFI/debian/shimx64.efi",
    "/EFI/debian/BOOTX64.CSV",
  ]);
});

Deno.test("parseBootCsv() reads shim's UTF-16 fallback CSV as the runner decodes it", async () => {
  const bytes = await Deno.readFile(testdata("mtools/mtype-shim-bootx64-csv-utf16.bin"));
  assert.deepEqual(parseBootCsv(new TextDecoder().decode(bytes)), {
    file: "shimx64.efi",
    label: "debian",
  });
  assert.equal(parseBootCsv("no fields\n"), null);
});

/** Delegates to the real tools, except efibootmgr, whose calls are recorded. */
function scriptedNvram(): Runner & { efibootmgr: string[] } {
  const efibootmgr: string[] = [];
  return {
    efibootmgr,
    run(cmd, args, options) {
      if (cmd !== "efibootmgr") return systemRunner.run(cmd, args, options);
      efibootmgr.push(args.join(" "));
      const stdout = args.join(" ") === "-v" ? OVMF : "";
      return Promise.resolve({ code: 0, stdout, stderr: "" });
    },
    pipe: (cmd, args, options) => systemRunner.pipe(cmd, args, options),
  };
}

async function tool(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A GPT disk with a 40 MiB vfat ESP (flag as given) holding `files` (path → content). */
async function espDisk(
  flag: "esp" | "none",
  files: Record<string, Uint8Array>,
): Promise<LoopDevice> {
  const disk = await createLoopDevice({ sizeMiB: 48 });
  try {
    await fillEsp(disk, flag, files);
  } catch (err) {
    await disk[Symbol.asyncDispose]();
    throw err;
  }
  return disk;
}

async function fillEsp(disk: LoopDevice, flag: "esp" | "none", files: Record<string, Uint8Array>) {
  const args = ["-s", disk.path, "--", "unit", "MiB", "mklabel", "gpt"];
  args.push("mkpart", "primary", "fat32", "1", "41", "mkpart", "primary", "41", "47");
  if (flag === "esp") args.push("set", "1", "esp", "on");
  await tool("parted", args);
  await tool("partprobe", [disk.path]);
  const esp = `${disk.path}p1`;
  await tool("mkfs.vfat", ["-n", "efi-part", esp]);
  const mtools = { MTOOLS_SKIP_CHECK: "1" };
  const dir = await Deno.makeTempDir({ prefix: "esp-files-" });
  try {
    for (const [path, content] of Object.entries(files)) {
      const parts = path.split("/").slice(1, -1);
      for (let i = 1; i <= parts.length; i++) {
        await tool("mmd", ["-D", "s", "-i", esp, `::/${parts.slice(0, i).join("/")}`], mtools)
          .catch(() => {}); // exists already
      }
      await Deno.writeFile(`${dir}/f`, content);
      await tool("mcopy", ["-o", "-i", esp, `${dir}/f`, `::${path}`], mtools);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const EFI = new TextEncoder().encode("MZ fake loader");

function utf16Csv(text: string): Uint8Array {
  const units = new Uint8Array(2 + text.length * 2);
  units.set([0xff, 0xfe]);
  for (let i = 0; i < text.length; i++) units[2 + 2 * i] = text.charCodeAt(i);
  return units;
}

Deno.test("manageUefi() adds the shim CSV entry, replacing the entry with the same label", async () => {
  const csv = utf16Csv("shimx64.efi,debian,,This is the boot entry for debian\n");
  await using disk = await espDisk("esp", {
    "/EFI/BOOT/BOOTX64.EFI": EFI,
    "/EFI/debian/shimx64.efi": EFI,
    "/EFI/debian/BOOTX64.CSV": csv,
  });
  const runner = scriptedNvram();
  const result = await manageUefi(runner, disk.path, { log, protectHost: false });
  assert.deepEqual(result, {
    esp: `${disk.path}p1`,
    loaders: [{ path: "\\EFI\\debian\\shimx64.efi", label: "debian" }],
  });
  // The OVMF recording has Boot0003 labelled "debian".
  assert.deepEqual(runner.efibootmgr, [
    "-v",
    "-b 0003 -B",
    `-v -c -d ${disk.path} -p 1 -w -L debian -l \\EFI\\debian\\shimx64.efi`,
  ]);
});

Deno.test("manageUefi() with --protect-host logs the entries and changes no NVRAM", async () => {
  await using disk = await espDisk("esp", { "/EFI/BOOT/BOOTX64.EFI": EFI });
  const runner = scriptedNvram();
  const result = await manageUefi(runner, disk.path, { log, protectHost: true });
  assert.deepEqual(result?.loaders, [{ path: "\\EFI\\BOOT\\BOOTX64.EFI", label: "ironic1" }]);
  assert.deepEqual(runner.efibootmgr, ["-v"], "only the listing ran");
});

Deno.test("manageUefi() finds an unflagged ESP by efi_system_part_uuid, and none without", async () => {
  await using disk = await espDisk("none", { "/EFI/BOOT/BOOTAA64.EFI": EFI });
  const out = await systemRunner.run("blkid", [
    "-p",
    "-o",
    "value",
    "-s",
    "UUID",
    `${disk.path}p1`,
  ]);
  const uuid = out.stdout.trim();
  assert.match(uuid, /^[0-9A-F]{4}-[0-9A-F]{4}$/);
  const runner = scriptedNvram();
  await assert.rejects(
    manageUefi(runner, disk.path, { log, protectHost: false }),
    (err: Error) =>
      err instanceof DeviceNotFound &&
      err.message.includes(`No EFI partition could be detected on device ${disk.path}`),
  );
  const result = await manageUefi(runner, disk.path, {
    log,
    protectHost: false,
    efiSystemPartUuid: uuid.toLowerCase(),
  });
  assert.equal(result?.esp, `${disk.path}p1`);
  assert.deepEqual(
    runner.efibootmgr.at(-1),
    `-v -c -d ${disk.path} -p 1 -w -L ironic1 -l \\EFI\\BOOT\\BOOTAA64.EFI`,
  );
});

Deno.test("manageUefi() resolves null for an ESP without loaders", async () => {
  await using disk = await espDisk("esp", { "/EFI/README.TXT": EFI });
  const runner = scriptedNvram();
  assert.equal(await manageUefi(runner, disk.path, { log, protectHost: false }), null);
  assert.deepEqual(runner.efibootmgr, []);
});

function installBootloader(
  manage: () => Promise<ManageUefiResult | null>,
  options: { uefi: boolean; ignore?: boolean },
) {
  const calls: string[] = [];
  const [spec] = imageCommands({
    bootedUefi: () => Promise.resolve(options.uefi),
    ignoreBootloaderFailure: options.ignore ?? null,
    enableBiosBootloaderInstall: () => false,
    installGrub: () => Promise.reject(new Error("GRUB is disabled in these tests")),
    manageUefi: ({ efiSystemPartUuid }) => {
      calls.push(String(efiSystemPartUuid));
      return manage();
    },
  });
  const ctx = {
    id: "c1",
    log,
    signal: new AbortController().signal,
    progress: () => {},
  };
  return {
    calls,
    run: (params: Record<string, unknown>) => spec!.run(params, ctx),
  };
}

Deno.test("install_bootloader sets up UEFI entries when the ramdisk booted UEFI", async (t) => {
  const entry = { esp: "/dev/sda1", loaders: [{ path: "\\EFI\\BOOT\\BOOTX64.EFI", label: "x" }] };
  await t.step("success ends the command", async () => {
    const c = installBootloader(() => Promise.resolve(entry), { uefi: true });
    assert.equal(await c.run({ root_uuid: "abc", efi_system_part_uuid: "6E3A-19F2" }), null);
    assert.deepEqual(c.calls, ["6E3A-19F2"]);
  });
  await t.step("a failure fails the command, naming the ESP uuid", async () => {
    const c = installBootloader(() => Promise.reject(new Error("mdir: boom")), { uefi: true });
    await assert.rejects(
      c.run({ root_uuid: "0x00000000", efi_system_part_uuid: "6E3A-19F2" }),
      (err: Error) =>
        err instanceof DeploymentError &&
        /efi_system_part_uuid 6E3A-19F2.*mdir: boom/.test(err.message),
    );
  });
  await t.step("ignore_bootloader_failure lets a whole-disk image through", async () => {
    const c = installBootloader(() => Promise.reject(new Error("boom")), { uefi: true });
    assert.equal(await c.run({ root_uuid: "0x00000000", ignore_bootloader_failure: true }), null);
  });
  await t.step("an empty ESP falls through to the whole-disk no-op", async () => {
    const c = installBootloader(() => Promise.resolve(null), { uefi: true });
    assert.equal(await c.run({ root_uuid: "0x00000000" }), null);
    assert.deepEqual(c.calls, ["null"]);
  });
  await t.step("a BIOS ramdisk never touches the NVRAM", async () => {
    const c = installBootloader(() => Promise.resolve(entry), { uefi: false });
    assert.equal(await c.run({ root_uuid: "0x00000000" }), null);
    assert.deepEqual(c.calls, []);
  });
});
