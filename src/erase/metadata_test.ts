import assert from "node:assert/strict";
import { BlockDeviceEraseError, ProtectedDeviceError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { Logger } from "../log.ts";
import { eraseOptions, type FakeDevice, machine } from "./_test_machine.ts";
import { emptySysfs, type FakeRunner, fakeRunner, type Handler } from "./_test_runner.ts";
import { eraseDevicesMetadata, type EraseDevicesMetadataOptions } from "./metadata.ts";
import { PROBE_LSBLK_ARGS } from "./probe.ts";

const log = new Logger({ test: "erase_metadata" });

/** The machine every test starts from. */
const MACHINE: FakeDevice[] = [
  { kname: "sda", type: "disk", serial: "SDA-SERIAL" },
  { kname: "sda1", type: "part", parent: "sda", fstype: "vfat" },
  { kname: "sda2", type: "part", parent: "sda", fstype: "ext4" },
  { kname: "sdb", type: "disk", serial: "SDB-SERIAL" },
  { kname: "sdb1", type: "part", parent: "sdb", fstype: "xfs" },
  { kname: "sdc", type: "disk", readOnly: true },
  { kname: "sdd", type: "disk" },
  { kname: "sdd1", type: "part", parent: "sdd", fstype: "linux_raid_member" },
  { kname: "sde", type: "disk", size: 1474560, virtualMedia: true },
  { kname: "nvme0n1", type: "disk" },
];

/**
 * What a run over MACHINE wipes, in order: sdc is read-only, sdd and sdd1 carry a RAID member,
 * sde is the virtual media.
 */
const ALL_ERASABLE = [
  "/dev/sdb1",
  "/dev/sdb",
  "/dev/sda2",
  "/dev/sda1",
  "/dev/sda",
  "/dev/nvme0n1",
];

function options(
  runner: FakeRunner,
  extra: Partial<EraseDevicesMetadataOptions> = {},
): EraseDevicesMetadataOptions {
  return { ...eraseOptions(runner, log), ...extra };
}

function wiped(runner: FakeRunner): string[] {
  return runner.calls.filter((c) => c.startsWith("wipefs")).map((c) => c.split(" ").at(-1)!);
}

function writes(runner: FakeRunner): string[] {
  return runner.calls.filter((c) => /^(wipefs|dd|sgdisk)\b/.test(c));
}

Deno.test("eraseDevicesMetadata() wipes partitions before their disks, skipping what it must", async () => {
  const runner = fakeRunner(machine(MACHINE), emptySysfs);
  await eraseDevicesMetadata(options(runner));
  assert.deepEqual(wiped(runner), ALL_ERASABLE);
  // The full sequence for one device.
  const forSda = runner.calls.filter((c) => / \/dev\/sda$|of=\/dev\/sda /.test(c));
  assert.deepEqual(forSda.filter((c) => !/^(lsblk|blkid|partx)\b/.test(c)), [
    "wipefs --force --all /dev/sda",
    "blockdev --getss /dev/sda",
    "blockdev --getsize64 /dev/sda",
    "dd bs=512 if=/dev/zero of=/dev/sda count=33 oflag=direct",
    "dd bs=512 if=/dev/zero of=/dev/sda count=33 oflag=direct seek=209715167",
    "sgdisk -Z /dev/sda",
    "fuser /dev/sda",
  ]);
});

Deno.test("eraseDevicesMetadata() leaves a skip-listed disk and all its partitions alone", async () => {
  const runner = fakeRunner(machine(MACHINE), emptySysfs);
  const node: Node = {
    uuid: "u",
    properties: { skip_block_devices: [{ serial: "sdb-serial" }, { volume_name: "md-data" }] },
  };
  await eraseDevicesMetadata(options(runner, { node }));
  assert.deepEqual(wiped(runner), ["/dev/sda2", "/dev/sda1", "/dev/sda", "/dev/nvme0n1"]);
  assert.ok(runner.calls.includes("lsblk -bia --json -oKNAME /dev/sdb"));
});

Deno.test("eraseDevicesMetadata() keeps excluded devices (RAID volumes) and what is on them", async () => {
  const runner = fakeRunner(machine(MACHINE), emptySysfs);
  await eraseDevicesMetadata(options(runner, { excludeDevices: ["/dev/sda"] }));
  assert.deepEqual(wiped(runner), ["/dev/sdb1", "/dev/sdb", "/dev/nvme0n1"]);
});

Deno.test("eraseDevicesMetadata() with onlyBlockDevices erases exactly the named devices", async () => {
  const runner = fakeRunner(machine(MACHINE), emptySysfs);
  await eraseDevicesMetadata(options(runner, { onlyBlockDevices: ["/dev/sda1", "/dev/sdz"] }));
  assert.deepEqual(wiped(runner), ["/dev/sda1"]);
  assert.ok(!runner.calls.some((c) => /sdb|nvme/.test(c)));
});

Deno.test("eraseDevicesMetadata() touches nothing when any device is protected", async (t) => {
  const protectedCases: [string, Partial<FakeDevice>][] = [
    ["VMFS partition type", { parttype: "AA31E02A-400F-11DB-9590-000C2911D1B8" }],
    ["GPFS partition type", { parttype: "37affc90-ef7d-4e96-91c3-2d7ae055b174" }],
    ["VMFS MBR type", { parttype: "0xfb" }],
    ["GFS2 filesystem", { fstype: "gfs2" }],
  ];
  for (const [label, change] of protectedCases) {
    await t.step(label, async () => {
      // The protected partition sorts after devices that would otherwise be wiped first.
      const devices = MACHINE.map((d) => d.kname === "sda2" ? { ...d, ...change } : d);
      const runner = fakeRunner(machine(devices), emptySysfs);
      await assert.rejects(eraseDevicesMetadata(options(runner)), ProtectedDeviceError);
      assert.deepEqual(writes(runner), []);
    });
  }
});

Deno.test("eraseDevicesMetadata() erases protected contents when the guard is off", async () => {
  const devices = MACHINE.map((d) => d.kname === "sda2" ? { ...d, fstype: "gfs2" } : d);
  const runner = fakeRunner(machine(devices), emptySysfs);
  await eraseDevicesMetadata(options(runner, { guardSpecialFilesystems: false }));
  assert.ok(wiped(runner).includes("/dev/sda2"));

  const optOut = fakeRunner(machine(devices), emptySysfs);
  const node = { uuid: "u", driver_internal_info: { wipe_special_filesystems: false } };
  await eraseDevicesMetadata(options(optOut, { node }));
  assert.ok(wiped(optOut).includes("/dev/sda2"));
});

Deno.test("eraseDevicesMetadata() goes on after a failure and reports every failure", async () => {
  const failing: Handler = (line) => {
    if (line.startsWith("dd") && line.includes("of=/dev/sdb1 ")) {
      return { code: 1, stderr: "dd: error writing '/dev/sdb1': Input/output error" };
    }
    if (line === "sgdisk -Z /dev/nvme0n1") return { code: 2, stderr: "Problem opening device" };
    return undefined;
  };
  const runner = fakeRunner(failing, machine(MACHINE), emptySysfs);
  await assert.rejects(eraseDevicesMetadata(options(runner)), (err: unknown) => {
    assert.ok(err instanceof BlockDeviceEraseError);
    assert.equal(
      err.details,
      'Failed to erase the metadata on the device(s): "/dev/sdb1": Command "dd bs=512 ' +
        'if=/dev/zero of=/dev/sdb1 count=33 oflag=direct" exited with code 1: dd: error ' +
        'writing \'/dev/sdb1\': Input/output error; "/dev/nvme0n1": Command "sgdisk -Z ' +
        '/dev/nvme0n1" exited with code 2: Problem opening device',
    );
    return true;
  });
  assert.deepEqual(wiped(runner), ALL_ERASABLE);
});

Deno.test("eraseDevicesMetadata() leaves a device alone when it cannot be probed", async () => {
  const broken: Handler = (line) =>
    line === ["lsblk", ...PROBE_LSBLK_ARGS, "/dev/sda1"].join(" ")
      ? { code: 32, stderr: "lsblk: /dev/sda1: not a block device" }
      : undefined;
  const runner = fakeRunner(broken, machine(MACHINE), emptySysfs);
  await eraseDevicesMetadata(options(runner));
  assert.ok(!wiped(runner).includes("/dev/sda1"));
  assert.ok(wiped(runner).includes("/dev/sda"));
});

Deno.test("eraseDevicesMetadata() refuses to start with an invalid skip list", async () => {
  const runner = fakeRunner(machine(MACHINE), emptySysfs);
  const node = { uuid: "u", properties: { skip_block_devices: [{ colour: "red" }] } };
  await assert.rejects(
    eraseDevicesMetadata(options(runner, { node })),
    (err: unknown) =>
      err instanceof BlockDeviceEraseError && /"colour": unknown key/.test(err.details),
  );
  assert.deepEqual(writes(runner), []);
});

Deno.test("eraseDevicesMetadata() does nothing on a machine without erasable devices", async () => {
  const runner = fakeRunner(
    machine([{ kname: "sdc", type: "disk", readOnly: true }]),
    emptySysfs,
  );
  await eraseDevicesMetadata(options(runner));
  assert.deepEqual(writes(runner), []);
});
