import assert from "node:assert/strict";
import { BlockDeviceEraseError, ProtectedDeviceError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { LSBLK_ARGS } from "../inventory/block_devices.ts";
import { Logger } from "../log.ts";
import { emptySysfs, type FakeRunner, fakeRunner, type Handler, testdata } from "./_test_runner.ts";
import { eraseDevicesExpress, type EraseDevicesExpressOptions } from "./express.ts";
import { PROBE_LSBLK_ARGS } from "./probe.ts";

const log = new Logger({ test: "erase_express" });

interface FakeDevice {
  kname: string;
  type: string;
  parent?: string;
  fstype?: string;
}

const MACHINE: FakeDevice[] = [
  { kname: "sda", type: "disk" },
  { kname: "sda1", type: "part", parent: "sda", fstype: "ext4" },
  { kname: "nvme0n1", type: "disk" },
  { kname: "nvme1n1", type: "disk" },
];

/** nvme0n1 supports a crypto format; nvme1n1 offers no format at all. */
function machine(devices: FakeDevice[]): Handler {
  return (line, cmd, args) => {
    if (line === ["lsblk", ...LSBLK_ARGS].join(" ")) {
      return JSON.stringify({
        blockdevices: devices.map((d) => ({
          kname: d.kname,
          model: null,
          size: 100 * 2 ** 30,
          rota: false,
          type: d.type,
          uuid: null,
          partuuid: null,
          serial: null,
          wwn: null,
          "log-sec": 512,
          "phy-sec": 512,
          tran: null,
        })),
      });
    }
    const target = (args.at(-1) ?? "").replace(/^\/dev\//, "");
    if (line === ["lsblk", ...PROBE_LSBLK_ARGS, `/dev/${target}`].join(" ")) {
      const rows = devices.filter((d) => d.kname === target || d.parent === target);
      return JSON.stringify({
        blockdevices: rows.map((d) => ({
          kname: d.kname,
          uuid: null,
          ptuuid: null,
          parttype: null,
          partuuid: null,
          fstype: d.fstype ?? null,
        })),
      });
    }
    if (cmd === "blkid") return { code: 2, stdout: "" };
    if (line === "nvme id-ctrl /dev/nvme0n1 -o json") {
      return testdata("nvme/id-ctrl-format-crypto-hand.json");
    }
    if (line === "nvme id-ctrl /dev/nvme1n1 -o json") {
      return testdata("nvme/id-ctrl-no-format-hand.json");
    }
    if (line.startsWith("nvme format")) return "Success formatting namespace:1\n";
    if (line.startsWith("blockdev --getss")) return "512\n";
    if (line.startsWith("blockdev --getsize64")) return `${100 * 2 ** 30}\n`;
    if (cmd === "wipefs" || cmd === "dd" || cmd === "sgdisk") return "";
    if (cmd === "fuser") return { code: 1, stdout: "" };
    return undefined;
  };
}

function options(
  runner: FakeRunner,
  extra: Partial<EraseDevicesExpressOptions> = {},
): EraseDevicesExpressOptions {
  return {
    runner,
    log,
    node: { uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123" },
    onlyBlockDevices: [],
    guardSpecialFilesystems: true,
    sleep: () => Promise.resolve(),
    ...extra,
  };
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
