import assert from "node:assert/strict";
import { BlockDeviceEraseError, ProtectedDeviceError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { Logger } from "../log.ts";
import { eraseOptions, type FakeDevice, machine } from "./_test_machine.ts";
import { emptySysfs, type FakeRunner, fakeRunner, type Handler } from "./_test_runner.ts";
import { eraseDevicesExpress, type EraseDevicesExpressOptions } from "./express.ts";

const log = new Logger({ test: "erase_express" });

/** nvme0n1 supports a crypto format; nvme1n1 offers no format at all. */
const MACHINE: FakeDevice[] = [
  { kname: "sda", type: "disk" },
  { kname: "sda1", type: "part", parent: "sda", fstype: "ext4" },
  { kname: "nvme0n1", type: "disk", nvmeIdCtrl: "nvme/id-ctrl-format-crypto-hand.json" },
  { kname: "nvme1n1", type: "disk", nvmeIdCtrl: "nvme/id-ctrl-no-format-hand.json" },
];

function options(
  runner: FakeRunner,
  extra: Partial<EraseDevicesExpressOptions> = {},
): EraseDevicesExpressOptions {
  return { ...eraseOptions(runner, log), ...extra };
}

function writes(runner: FakeRunner): string[] {
  return runner.calls.filter((c) => /^(wipefs|dd|sgdisk|nvme format)\b/.test(c));
}

Deno.test("eraseDevicesExpress() formats NVMe namespaces and wipes the metadata of the rest", async () => {
  const runner = fakeRunner(machine(MACHINE), emptySysfs);
  const report = await eraseDevicesExpress(options(runner));
  assert.deepEqual(report, {
    "/dev/sda1": "metadata",
    "/dev/sda": "metadata",
    "/dev/nvme1n1": "metadata", // no format support: falls back to metadata
    "/dev/nvme0n1": "nvme_format_crypto",
  });
  assert.ok(runner.calls.includes("nvme format /dev/nvme0n1 -s 2 -f"));
  assert.ok(!runner.calls.some((c) => c.startsWith("wipefs") && c.endsWith("/dev/nvme0n1")));
  assert.ok(runner.calls.includes("wipefs --force --all /dev/nvme1n1"));
});

Deno.test("eraseDevicesExpress() wipes metadata only when NVMe secure erase is disabled", async () => {
  const runner = fakeRunner(machine(MACHINE), emptySysfs);
  const node: Node = { uuid: "u", driver_internal_info: { agent_enable_nvme_secure_erase: false } };
  const report = await eraseDevicesExpress(options(runner, { node }));
  assert.equal(report["/dev/nvme0n1"], "metadata");
  assert.ok(!runner.calls.some((c) => c.startsWith("nvme")));
});

Deno.test("eraseDevicesExpress() reports the NVMe and the metadata failure together", async () => {
  const failing: Handler = (line) => {
    if (line === "nvme format /dev/nvme0n1 -s 2 -f") return { code: 1, stderr: "NVMe status: 0x4" };
    if (line === "sgdisk -Z /dev/nvme0n1") return { code: 2, stderr: "Problem opening device" };
    return undefined;
  };
  const runner = fakeRunner(failing, machine(MACHINE), emptySysfs);
  await assert.rejects(eraseDevicesExpress(options(runner)), (err: unknown) => {
    assert.ok(err instanceof BlockDeviceEraseError);
    assert.match(
      err.details,
      /^Failed to conduct an express erase on the device\(s\): "\/dev\/nvme0n1": /,
    );
    assert.match(err.details, /nvme format -s 2 failed.*NVMe status: 0x4; then .*sgdisk -Z/);
    return true;
  });
  // Every other device was still erased.
  assert.ok(runner.calls.includes("sgdisk -Z /dev/sda"));
});

Deno.test("eraseDevicesExpress() touches nothing when a device holds GFS2 or is fenced off", async () => {
  const gfs2 = MACHINE.map((d) => d.kname === "sda1" ? { ...d, fstype: "gfs2" } : d);
  const guarded = fakeRunner(machine(gfs2), emptySysfs);
  await assert.rejects(eraseDevicesExpress(options(guarded)), ProtectedDeviceError);
  assert.deepEqual(writes(guarded), []);

  const fenced = fakeRunner(machine(MACHINE), emptySysfs);
  const fence = { protectHost: true, onlyBlockDevices: ["/dev/sda"] };
  await assert.rejects(eraseDevicesExpress(options(fenced, { fence })), ProtectedDeviceError);
  assert.deepEqual(writes(fenced), []);
});
