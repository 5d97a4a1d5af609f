/**
 * Boot from software RAID (spec 12 §7) against a scripted two-disk machine: md0 (RAID 1 `root`
 * on vda1/vdb1, the layout `create_configuration` makes for UEFI: 551 MiB free in front) holds
 * a written image whose partition 1 is its ESP. Recorded outputs: `sgdisk -p` (gdisk 1.0.9),
 * `parted -m`, `mdir` and the shim CSV (mtools 4.0.32), `efibootmgr -v`.
 */
import assert from "node:assert/strict";
import { ProtectedDeviceError, SoftwareRAIDError } from "../api/errors.ts";
import { emptySysfs, type FakeRunner, fakeRunner, testdata } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { parseSgdiskPrint } from "./holders.ts";
import { prepareRaidGrub, type RaidBootOptions, setupRaidUefi } from "./boot.ts";

const log = new Logger({ test: "raid_boot" });
const SGDISK_HOLDER = testdata("sgdisk/print-uefi-holder-gpt.txt");
const MDIR_ESP = testdata("mtools/mdir-recursive-bare-4.0.32.txt");
const SHIM_CSV = new TextDecoder().decode(
  Deno.readFileSync(
    new URL("../../testdata/mtools/mtype-shim-bootx64-csv-utf16.bin", import.meta.url),
  ),
);
const EFIBOOTMGR = testdata("efibootmgr/ovmf-v17-hand.txt");

function detail(md: string, name: string, members: string[]): string {
  return [
    `${md}:`,
    "           Version : 1.0",
    "        Raid Level : raid1",
    "             State : clean ",
    `              Name : ipa-ramdisk:${name}  (local to host ipa-ramdisk)`,
    "",
    "    Number   Major   Minor   RaidDevice State",
    ...members.map((m, i) =>
      `       ${i}     253       ${i * 16 + 2}        ${i}      active sync   ${m}`
    ),
    "",
  ].join("\n");
}

interface Machine {
  runner: FakeRunner;
  arrays: Map<string, { name: string; members: string[]; vfat: boolean }>;
  /** GPT names of the partitions added per disk (beyond partition 1). */
  added: Map<string, string[]>;
}

/** `sgdisk -p` of a holder: the recorded table, cut to partition 1 or with the added ones. */
function sgdiskPrint(disk: string, added: string[]): string {
  const [head, rows] = SGDISK_HOLDER.replaceAll("h5disk.img", disk).split(/(?<=Name\n)/);
  const first = rows!.split("\n")[0]!;
  const extra = added.map((name, i) =>
    `   ${i + 2}            2048         1128447   550.0 MiB   EF00  ${name}`
  );
  return [head + first, ...extra].join("\n") + "\n";
}

function machine(
  options: { espRaid?: boolean; imageEsp?: boolean; label?: string } = {},
): Machine {
  const arrays = new Map([["/dev/md0", {
    name: "root",
    members: ["/dev/vda1", "/dev/vdb1"],
    vfat: false,
  }]]);
  if (options.espRaid) {
    arrays.set("/dev/md1", { name: "esp", members: ["/dev/vda2", "/dev/vdb2"], vfat: true });
  }
  const added = new Map<string, string[]>([["/dev/vda", []], ["/dev/vdb", []]]);
  if (options.espRaid) {
    for (const [d, list] of added) list.push(`uefi-holder-${d === "/dev/vda" ? 0 : 1}`);
  }
  const imageEsp = options.imageEsp ?? true;
  const runner = fakeRunner((line, cmd, args) => {
    if (line === "find /sys/block -mindepth 1 -maxdepth 1 -printf %f\\n") {
      return ["vda", "vdb", ...[...arrays.keys()].map((m) => m.slice(5))].map((n) => `${n}\n`)
        .join("");
    }
    if (cmd === "mdadm" && args[0] === "--detail") {
      const a = arrays.get(args[1]!);
      return a ? detail(args[1]!, a.name, a.members) : { code: 1, stderr: "mdadm: cannot open" };
    }
    if (cmd === "mdadm" && args[0] === "--create") {
      const n = Number(args[args.indexOf("--raid-devices") + 1]);
      arrays.set(args[1]!, {
        name: args[args.indexOf("--name") + 1]!,
        members: args.slice(-n),
        vfat: false,
      });
      return "";
    }
    if (cmd === "mdadm" && (args[0] === "--stop" || args[0] === "--assemble")) return "";
    if (line === "parted -s -m /dev/md0 unit MiB print") {
      return imageEsp
        ? testdata("parted/uefi-layout-gpt-3.5.txt").replace("/dev/loop9", "/dev/md0")
        : "";
    }
    if (cmd === "parted" && args.length === 4 && args[3] === "print") {
      const label = options.label ?? "gpt";
      return `BYT;\n${args[2]}:2048MiB:virtblk:512:512:${label}:Virtio Block Device:;\n`;
    }
    if (cmd === "sgdisk" && args[0] === "-p") return sgdiskPrint(args[1]!, added.get(args[1]!)!);
    if (cmd === "sgdisk" && args[0] === "-F") return "2048\n";
    if (cmd === "sgdisk" && args[0] === "-n") {
      added.get(args.at(-1)!)!.push(args[5]!.slice(2));
      return "";
    }
    if (cmd === "blkid") {
      const dev = args.at(-1)!;
      if (dev === "/dev/md0p1") return "TYPE=vfat\nUUID=1234-ABCD\nLABEL=EFI-SYS\n";
      const array = arrays.get(dev);
      if (array?.vfat) return "TYPE=vfat\nUUID=5678-EF01\nLABEL=efi-part\n";
      return array ? "PTTYPE=gpt\n" : { code: 2 };
    }
    if (cmd === "mdir") return MDIR_ESP;
    if (cmd === "mtype") return SHIM_CSV;
    if (cmd === "mcopy" || cmd === "wipefs" || cmd === "sync" || cmd === "partprobe") return "";
    if (cmd === "mkfs.vfat") {
      arrays.get(args.at(-1)!)!.vfat = true;
      return "";
    }
    if (line === "efibootmgr -v") return EFIBOOTMGR;
    if (cmd === "efibootmgr") return "";
    return undefined;
  }, emptySysfs);
  return { runner, arrays, added };
}

function options(m: Machine, extra: Partial<RaidBootOptions> = {}): RaidBootOptions {
  return {
    runner: m.runner,
    log,
    device: "/dev/md0",
    fence: { protectHost: false, onlyBlockDevices: [] },
    efiSystemPartUuid: null,
    bootedUefi: false,
    makeTempDir: () => Promise.resolve("/tmp/agent-esp-test"),
    removeDir: () => Promise.resolve(),
    ...extra,
  };
}

/** Commands that change a disk, an array, a filesystem or NVRAM. */
function writes(runner: FakeRunner): string[] {
  return runner.calls.filter((c) =>
    /^(sgdisk -n|mdadm --(create|stop|assemble)|mkfs|mcopy|wipefs|efibootmgr -(c|b)|efibootmgr -v -c)/
      .test(c)
  );
}

Deno.test("parseSgdiskPrint() reads partition rows with their GPT names", () => {
  assert.deepEqual(parseSgdiskPrint(SGDISK_HOLDER), [
    { number: 1, startSector: 1128448, endSector: 4192255, code: "8300", name: "primary" },
    { number: 2, startSector: 2048, endSector: 1128447, code: "EF00", name: "uefi-holder-0" },
  ]);
});

Deno.test("setupRaidUefi() builds the RAIDed ESP, moves the image's ESP onto it, logs NVRAM on BIOS", async () => {
  const m = machine();
  const result = await setupRaidUefi(options(m));
  assert.deepEqual(writes(m.runner), [
    "sgdisk -n 0:2048s:+550MiB -t 0:ef00 -c 0:uefi-holder-0 /dev/vda",
    "sgdisk -n 0:2048s:+550MiB -t 0:ef00 -c 0:uefi-holder-1 /dev/vdb",
    "mdadm --create /dev/md1 --force --run --metadata=1.0 --level 1 --name esp --raid-devices 2 " +
    "/dev/vda2 /dev/vdb2",
    "mcopy -s -p -m -n -Q -i /dev/md0p1 ::/EFI /tmp/agent-esp-test/",
    "mkfs.vfat -n EFI-SYS -i 1234ABCD /dev/md1",
    "mcopy -s -p -m -n -Q -i /dev/md1 /tmp/agent-esp-test/EFI ::/",
    "wipefs -a /dev/md0p1",
  ]);
  assert.ok(result);
  assert.equal(result.esp, "/dev/md1");
  // One entry per member disk and loader; the ramdisk booted BIOS, so NVRAM is not touched.
  assert.deepEqual(result.entries.map((e) => [e.disk, e.partition, e.label]), [
    ["/dev/vda", "2", "debian (RAID, part0)"],
    ["/dev/vdb", "2", "debian (RAID, part1)"],
  ]);
  assert.ok(!m.runner.calls.some((c) => c.startsWith("efibootmgr")));
});

Deno.test("setupRaidUefi() writes one NVRAM entry per member disk when booted UEFI", async () => {
  const m = machine();
  await setupRaidUefi(options(m, { bootedUefi: true }));
  assert.deepEqual(m.runner.calls.filter((c) => c.startsWith("efibootmgr")), [
    "efibootmgr -v",
    "efibootmgr -v -c -d /dev/vda -p 2 -w -L debian (RAID, part0) -l \\EFI\\debian\\shimx64.efi",
    "efibootmgr -v -c -d /dev/vdb -p 2 -w -L debian (RAID, part1) -l \\EFI\\debian\\shimx64.efi",
  ]);
  // --protect-host: logged only.
  const fenced = machine();
  await setupRaidUefi(options(fenced, {
    bootedUefi: true,
    fence: { protectHost: true, onlyBlockDevices: ["/dev/vda", "/dev/vdb"] },
  }));
  assert.ok(!fenced.runner.calls.some((c) => c.startsWith("efibootmgr")));
});

Deno.test("setupRaidUefi() reuses an existing RAIDed ESP and formats a new one only when empty", async () => {
  const m = machine({ espRaid: true, imageEsp: false });
  const result = await setupRaidUefi(options(m));
  assert.deepEqual(writes(m.runner), []);
  assert.equal(result?.esp, "/dev/md1");

  const fresh = machine({ imageEsp: false });
  await setupRaidUefi(options(fresh));
  assert.ok(fresh.runner.calls.includes("mkfs.vfat -n efi-part /dev/md1"));
  assert.ok(!fresh.runner.calls.some((c) => c.startsWith("mcopy") || c.startsWith("wipefs")));
});

Deno.test("setupRaidUefi() refuses holders outside the fence before writing anything", async () => {
  const m = machine();
  await assert.rejects(
    setupRaidUefi(options(m, { fence: { protectHost: true, onlyBlockDevices: ["/dev/vda"] } })),
    (err: unknown) => err instanceof ProtectedDeviceError && /\/dev\/vdb/.test(err.details),
  );
  assert.deepEqual(writes(m.runner), []);
});

Deno.test("prepareRaidGrub() restarts the root array and adds BIOS boot partitions to GPT holders", async () => {
  const m = machine();
  const plan = await prepareRaidGrub({ ...options(m), bootMode: "bios" });
  assert.deepEqual(plan, { grubDisks: ["/dev/vda", "/dev/vdb"], espDevice: null });
  assert.deepEqual(writes(m.runner), [
    "mdadm --stop /dev/md0",
    "mdadm --assemble /dev/md0 /dev/vda1 /dev/vdb1",
    "sgdisk -n 0:2048s:+2MiB -t 0:ef02 -c 0:bios-boot-part-0 /dev/vda",
    "sgdisk -n 0:2048s:+2MiB -t 0:ef02 -c 0:bios-boot-part-1 /dev/vdb",
  ]);
  // UEFI: GRUB goes into the RAIDed ESP.
  const uefi = machine({ espRaid: true });
  const uefiPlan = await prepareRaidGrub({ ...options(uefi), bootMode: "uefi" });
  assert.deepEqual(uefiPlan, { grubDisks: ["/dev/vda", "/dev/vdb"], espDevice: "/dev/md1" });
});

Deno.test("setupRaidUefi() refuses msdos holders instead of letting sgdisk convert them", async () => {
  const m = machine({ label: "msdos" });
  await assert.rejects(
    setupRaidUefi(options(m)),
    (err: unknown) =>
      err instanceof SoftwareRAIDError &&
      /RAID holder \/dev\/vda: its partition table is msdos, not gpt/.test(err.details),
  );
  assert.deepEqual(writes(m.runner), []);
});
