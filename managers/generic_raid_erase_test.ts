/**
 * The generic manager's erase steps on a machine with software RAID the skip list keeps by
 * volume name (spec 12 §5, spec 09 §3): arrays read from recorded `mdadm --detail` output
 * (mdadm 4.2 in the ramdisk VM), every other tool answered by a fake runner.
 */
import assert from "node:assert/strict";
import { defaultConfig } from "../src/config/defaults.ts";
import { emptySysfs, type FakeRunner, fakeRunner, testdata } from "../src/erase/_test_runner.ts";
import { PROBE_LSBLK_ARGS } from "../src/erase/probe.ts";
import type { Dispatcher, HardwareManager, ImageDeployer, Node } from "../src/hardware/manager.ts";
import { LSBLK_ARGS } from "../src/inventory/block_devices.ts";
import { lsblkEntry } from "../src/inventory/_test_lsblk.ts";
import { Logger } from "../src/log.ts";
import createGenericManager from "./generic.ts";

const log = new Logger({ test: "generic_raid_erase" });
const GiB = 2 ** 30;

/** md0 `root` (RAID 1) and md1 `data` (RAID 5) on vd[a-d]1 / vd[a-d]2, and a free disk vde. */
const HOLDERS = ["vda", "vdb", "vdc", "vdd"];
const DEVICES: { kname: string; type: string; parent?: string[] }[] = [
  ...HOLDERS.map((kname) => ({ kname, type: "disk" })),
  { kname: "vde", type: "disk" },
  { kname: "md0", type: "raid1", parent: HOLDERS.map((h) => `${h}1`) },
  { kname: "md1", type: "raid5", parent: HOLDERS.map((h) => `${h}2`) },
  ...HOLDERS.flatMap((h) => [1, 2].map((n) => ({ kname: `${h}${n}`, type: "part", parent: [h] }))),
];
const DETAIL: Record<string, string> = {
  "/dev/md0": testdata("mdadm/detail-raid1-4.2-vm.txt"),
  "/dev/md1": testdata("mdadm/detail-raid5-4.2-vm.txt"),
};

function descendants(kname: string): string[] {
  const children = DEVICES.filter((d) => d.parent?.includes(kname)).map((d) => d.kname);
  return [kname, ...children.flatMap(descendants)];
}

function machine(): FakeRunner {
  return fakeRunner((line, cmd, args) => {
    if (line === ["lsblk", ...LSBLK_ARGS].join(" ")) {
      return JSON.stringify({
        blockdevices: DEVICES.map((d) => lsblkEntry(d.kname, d.type, { size: 8 * GiB })),
      });
    }
    const target = (args.at(-1) ?? "").replace(/^\/dev\//, "");
    if (line === `lsblk -bia --json -oKNAME /dev/${target}`) {
      return JSON.stringify({ blockdevices: descendants(target).map((kname) => ({ kname })) });
    }
    if (line === ["lsblk", ...PROBE_LSBLK_ARGS, `/dev/${target}`].join(" ")) {
      const rows = descendants(target).map((kname) => ({
        kname,
        fstype: DEVICES.find((d) => d.kname === kname)?.type === "part"
          ? "linux_raid_member"
          : null,
      }));
      return JSON.stringify({ blockdevices: rows });
    }
    if (line === "find /sys/block -mindepth 1 -maxdepth 1 -printf %f\\n") {
      return DEVICES.filter((d) => d.type !== "part").map((d) => `${d.kname}\n`).join("");
    }
    if (cmd === "mdadm" && args[0] === "--detail") {
      return DETAIL[args[1]!] ?? { code: 1, stderr: `mdadm: cannot open ${args[1]}` };
    }
    if (cmd === "grep") {
      return args.filter((p) => p.endsWith("/ro")).map((p) => `${p}:0\n`).join("");
    }
    if (cmd === "blkid") return { code: 2 };
    if (line.startsWith("blockdev --getss")) return "512\n";
    if (line.startsWith("blockdev --getsize64")) return `${8 * GiB}\n`;
    if (cmd === "wipefs" || cmd === "dd" || cmd === "sgdisk") return "";
    if (cmd === "fuser") return { code: 1 };
    return undefined;
  }, emptySysfs);
}

async function manager(runner: FakeRunner, erased: string[]): Promise<HardwareManager> {
  const dispatch = (name: string, ...args: unknown[]) => {
    if (name === "eraseBlockDevice") {
      erased.push((args[1] as { name: string }).name);
      return Promise.resolve({ method: "fake", seconds: 0 });
    }
    return Promise.reject(new Error(`${name} is not used in this test`));
  };
  return await createGenericManager({
    runner,
    log,
    config: defaultConfig(),
    managers: { dispatch, dispatchAll: dispatch } as unknown as Dispatcher,
    images: {} as ImageDeployer,
  });
}

async function runStep(m: HardwareManager, name: string, node: Node): Promise<unknown> {
  const step = m.steps.find((s) => s.step === name);
  assert.ok(step, `step ${name} is offered`);
  return await step.run({
    kind: "clean",
    node,
    ports: [],
    args: {},
    log,
    signal: new AbortController().signal,
    progress() {},
  });
}

/** Devices whose metadata was destroyed (`wipefs --force --all <dev>`). */
function wiped(runner: FakeRunner): string[] {
  return runner.calls.filter((c) => c.startsWith("wipefs")).map((c) => c.split(" ").at(-1)!);
}

const KEEP_ROOT: Node = {
  uuid: "n",
  properties: { skip_block_devices: [{ volume_name: "root" }] },
};

Deno.test("erase_devices skips a kept RAID volume and its holder disks, wipes the shared one", async () => {
  const erased: string[] = [];
  const runner = machine();
  const result = await runStep(await manager(runner, erased), "erase_devices", KEEP_ROOT);
  // md1 (`data`) shares the holders of the kept md0 (`root`): its data goes, the array stays.
  assert.deepEqual(erased.toSorted(), ["/dev/md1", "/dev/vde"]);
  assert.deepEqual(Object.keys(result as object).toSorted(), ["/dev/md1", "/dev/vde"]);
  assert.ok(runner.calls.includes("mdadm --detail /dev/md0"));
});

Deno.test("erase_devices without volume names erases every disk and array", async () => {
  const erased: string[] = [];
  const runner = machine();
  await runStep(await manager(runner, erased), "erase_devices", { uuid: "n" });
  assert.deepEqual(erased.toSorted(), [
    "/dev/md0",
    "/dev/md1",
    "/dev/vda",
    "/dev/vdb",
    "/dev/vdc",
    "/dev/vdd",
    "/dev/vde",
  ]);
  assert.ok(!runner.calls.some((c) => c.startsWith("mdadm")), "no array is read");
});

Deno.test("erase_devices_metadata and express leave kept and wiped volumes and their disks", async (t) => {
  for (const name of ["erase_devices_metadata", "erase_devices_express"]) {
    await t.step(name, async () => {
      const runner = machine();
      const m = await manager(runner, []);
      if (name === "erase_devices_metadata") {
        // The step dispatches to the best manager's capability: this one.
        await m.capabilities.eraseDevicesMetadata!(KEEP_ROOT, log);
      } else {
        assert.deepEqual(await runStep(m, name, KEEP_ROOT), { "/dev/vde": "metadata" });
      }
      assert.deepEqual(wiped(runner), ["/dev/vde"]);
      assert.ok(!runner.calls.some((c) => /^(dd|sgdisk)\b.*\/dev\/(vd[a-d]|md)/.test(c)));
    });
  }
});

Deno.test("erase_devices_metadata without volume names still skips the RAID members", async () => {
  const runner = machine();
  const m = await manager(runner, []);
  await m.capabilities.eraseDevicesMetadata!({ uuid: "n" }, log);
  // Partitions carry linux_raid_member and so do the disks under them (spec 09 §3.1); the
  // arrays themselves are wiped.
  assert.deepEqual(wiped(runner), ["/dev/vde", "/dev/md1", "/dev/md0"]);
});
