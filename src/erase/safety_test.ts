import assert from "node:assert/strict";
import { BlockDeviceError, ProtectedDeviceError } from "../api/errors.ts";
import { fakeRunner, testdata } from "./_test_runner.ts";
import { mergeBlkid, parseProbeLsblk, probeDevice } from "./probe.ts";
import { checkProbedDevice, guardEnabled, safetyCheckBlockDevice } from "./safety.ts";

function protectedMessage(what: string, where: string) {
  return (err: unknown) =>
    err instanceof ProtectedDeviceError &&
    err.details.startsWith(`Protected ${what} located on device ${where}. This volume`) &&
    err.message.startsWith("Protected device: ");
}

Deno.test("checkProbedDevice() refuses every guarded identifier, whatever its case", async (t) => {
  const cases: [string, string, string, string][] = [
    [
      "probe-vmfs-gpt-hand.json",
      "/dev/sdd",
      "VMware VMFS Partition (GPT)",
      "/dev/sdd1 (on /dev/sdd)",
    ],
    ["probe-gpfs-upper-hand.json", "/dev/sde", "IBM GPFS Partition", "/dev/sde"],
    [
      "probe-vmfs-mbr-hand.json",
      "/dev/sdf",
      "VMware VMFS Partition (MBR)",
      "/dev/sdf1 (on /dev/sdf)",
    ],
    ["probe-gfs2-hand.json", "/dev/sdg", "Red Hat Global File System 2", "/dev/sdg"],
  ];
  for (const [file, device, what, where] of cases) {
    await t.step(file, () => {
      const entries = parseProbeLsblk(testdata(`lsblk/${file}`), device);
      assert.throws(() => checkProbedDevice(device, entries), protectedMessage(what, where));
    });
  }
  await t.step("an ordinary GPT disk with ext4 and vfat passes", () => {
    const entries = parseProbeLsblk(testdata("lsblk/probe-clean-hand.json"), "/dev/sdb");
    checkProbedDevice("/dev/sdb", entries);
  });
});

Deno.test("parseProbeLsblk() lower-cases identifiers and keeps the device first", () => {
  const entries = parseProbeLsblk(testdata("lsblk/probe-gpfs-upper-hand.json"), "/dev/sde");
  assert.deepEqual(entries, [{
    name: "/dev/sde",
    ids: [
      "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      "37affc90-ef7d-4e96-91c3-2d7ae055b174",
      "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
    ],
    fsTypes: [],
  }]);
  // IPA's column set (no KNAME): the first row is the device.
  const ipa = parseProbeLsblk(
    '{"blockdevices": [{"uuid": null, "ptuuid": null, "parttype": "0xfb", "partuuid": null}]}',
    "/dev/sdx1",
  );
  assert.deepEqual(ipa, [{ name: "/dev/sdx1", ids: ["0xfb"], fsTypes: [] }]);
  assert.throws(() => parseProbeLsblk('{"blockdevices": []}', "/dev/sdx"), BlockDeviceError);
  assert.throws(() => parseProbeLsblk("<html>", "/dev/sdx"), BlockDeviceError);
});

Deno.test("probeDevice() sees a VMFS partition through blkid when udev has nothing", async () => {
  // Recorded on a machine without udevd: lsblk knows no identifiers at all.
  const runner = fakeRunner((_line, cmd, args) => {
    if (cmd === "lsblk") return testdata("lsblk/debian12-2.38-probe-no-udev.json");
    if (cmd === "blkid") {
      const file = { "/dev/loop2": "loopB", "/dev/loop2p1": "loopBp1", "/dev/loop2p2": "loopBp2" }[
        args.at(-1)!
      ];
      return file ? testdata(`udev/blkid-${file}.txt`) : { code: 2, stdout: "" };
    }
    if (cmd === "partx") return { code: 1 };
    return undefined;
  });
  const entries = await probeDevice(runner, "/dev/loop2");
  assert.deepEqual(runner.calls, [
    "lsblk -bia --json -oKNAME,UUID,PTUUID,PARTTYPE,PARTUUID,FSTYPE /dev/loop2",
    "blkid -p -o export /dev/loop2",
    "blkid -p -o export /dev/loop2p1",
    "blkid -p -o export /dev/loop2p2",
    "partx -g -o TYPE,UUID --show /dev/loop2",
  ]);
  assert.deepEqual(entries.map((e) => e.fsTypes), [[], [], ["gfs2"]]);
  assert.ok(entries[1]!.ids.includes("aa31e02a-400f-11db-9590-000c2911d1b8"));
  assert.throws(
    () => checkProbedDevice("/dev/loop2", entries),
    protectedMessage("VMware VMFS Partition (GPT)", "/dev/loop2p1 (on /dev/loop2)"),
  );
});

Deno.test("mergeBlkid() reads filesystem type and partition identifiers", () => {
  const entry = { name: "/dev/loop1p1", ids: [], fsTypes: [] };
  mergeBlkid(entry, testdata("udev/blkid-loopAp1.txt"));
  assert.deepEqual(entry, {
    name: "/dev/loop1p1",
    ids: [
      "eea3f86c-2223-48ed-a08e-4dfbe7138cae",
      "b0af3690-f5c1-4ba2-b2dd-18522273dda8",
      "0fc63daf-8483-4772-8e79-3d69d8477de4",
    ],
    fsTypes: ["ext4"],
  });
});

Deno.test("guardEnabled() honours the agent option and the node's opt-out", () => {
  assert.equal(guardEnabled({ uuid: "u" }, true), true);
  assert.equal(guardEnabled({ uuid: "u" }, false), false);
  assert.equal(guardEnabled(null, true), true);
  const optOut = { uuid: "u", driver_internal_info: { wipe_special_filesystems: false } };
  assert.equal(guardEnabled(optOut, true), false);
  const stringy = { uuid: "u", driver_internal_info: { wipe_special_filesystems: "false" } };
  assert.equal(guardEnabled(stringy, true), true, "only an explicit false disables the guard");
});

Deno.test("safetyCheckBlockDevice() runs nothing when the guard is off", async () => {
  const runner = fakeRunner(() => testdata("lsblk/probe-gfs2-hand.json"));
  await safetyCheckBlockDevice(runner, "/dev/sdg", { node: null, guardSpecialFilesystems: false });
  assert.deepEqual(runner.calls, []);
  await assert.rejects(
    safetyCheckBlockDevice(runner, "/dev/sdg", { node: null, guardSpecialFilesystems: true }),
    ProtectedDeviceError,
  );
});
