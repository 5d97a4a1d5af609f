import assert from "node:assert/strict";
import { DeviceNotFound } from "../api/errors.ts";
import { fakeRunner, testdata } from "../erase/_test_runner.ts";
import { Logger, setSink } from "../log.ts";
import {
  findPartitionWithPath,
  parsePartedPartitions,
  partitionPath,
} from "./partition_with_path.ts";
import { UnmountError, withTempMount } from "./temp_mount.ts";

setSink(() => {});
const log = new Logger();
const PARTED = testdata("parted/gpt-lvm-esp-plain-loop.txt");

Deno.test("parsePartedPartitions() reads numbers, file systems and flags", () => {
  assert.deepEqual(parsePartedPartitions(PARTED), [
    { number: 1, filesystem: "", flags: "lvm" },
    { number: 2, filesystem: "", flags: "boot, esp" },
    { number: 3, filesystem: "", flags: "" },
  ]);
  assert.deepEqual(
    parsePartedPartitions(testdata("parted/uefi-layout-gpt-3.5.txt")).map((p) => p.number),
    [1, 2],
  );
});

Deno.test("partitionPath() adds p after a device name ending in a digit", () => {
  assert.equal(partitionPath("/dev/sda", 2), "/dev/sda2");
  assert.equal(partitionPath("/dev/vdb", 1), "/dev/vdb1");
  assert.equal(partitionPath("/dev/nvme0n1", 3), "/dev/nvme0n1p3");
  assert.equal(partitionPath("/dev/loop7", 1), "/dev/loop7p1");
  assert.equal(partitionPath("/dev/mmcblk0", 1), "/dev/mmcblk0p1");
});

/** A fake mount: each partition is a directory of a temporary tree. */
async function fakePartitions(layout: Record<string, string[] | "unmountable">) {
  const base = await Deno.makeTempDir({ prefix: "partition-with-path-test-" });
  const mounted: string[] = [];
  for (const [device, dirs] of Object.entries(layout)) {
    if (dirs === "unmountable") continue;
    for (const dir of dirs) {
      await Deno.mkdir(`${base}/${device.replaceAll("/", "_")}/${dir}`, { recursive: true });
    }
  }
  const mount: typeof withTempMount = async (_runner, device, options, use) => {
    assert.equal(options.readOnly, true, "the search mounts read-only");
    mounted.push(device);
    if (layout[device] === "unmountable") throw new Error(`mount: ${device}: wrong fs type`);
    return await use(`${base}/${device.replaceAll("/", "_")}`);
  };
  return {
    mount,
    mounted,
    async [Symbol.asyncDispose]() {
      await Deno.remove(base, { recursive: true });
    },
  };
}

Deno.test("findPartitionWithPath() skips LVM and unmountable partitions and finds the directory", async () => {
  await using parts = await fakePartitions({
    "/dev/loop1p1": ["etc"], // flagged lvm: never mounted
    "/dev/loop1p2": "unmountable",
    "/dev/loop1p3": ["etc/ssh", "usr"],
  });
  const runner = fakeRunner((_l, cmd) => cmd === "parted" ? PARTED : undefined);
  const found = await findPartitionWithPath(runner, "/dev/loop1", "etc", {
    log,
    mount: parts.mount,
  });
  assert.equal(found, "/dev/loop1p3");
  assert.deepEqual(parts.mounted, ["/dev/loop1p2", "/dev/loop1p3"]);
  assert.deepEqual(runner.calls, ["parted -s -m /dev/loop1 unit MiB print"]);
});

Deno.test("findPartitionWithPath() throws DeviceNotFound naming what it scanned", async () => {
  await using parts = await fakePartitions({
    "/dev/loop1p2": ["boot"],
    "/dev/loop1p3": ["usr"],
  });
  const runner = fakeRunner((_l, cmd) => cmd === "parted" ? PARTED : undefined);
  await assert.rejects(
    findPartitionWithPath(runner, "/dev/loop1", "etc", { log, mount: parts.mount }),
    (err: unknown) => {
      assert.ok(err instanceof DeviceNotFound);
      assert.equal(
        err.details,
        "No partition found with path /etc on device /dev/loop1, scanned: /dev/loop1p1, " +
          "/dev/loop1p2, /dev/loop1p3",
      );
      return true;
    },
  );
});

Deno.test("findPartitionWithPath() stops when a partition cannot be unmounted", async () => {
  const runner = fakeRunner((_l, cmd) => cmd === "parted" ? PARTED : undefined);
  const mount: typeof withTempMount = () =>
    Promise.reject(new UnmountError("Cannot unmount /dev/loop1p2 from /tmp/x: busy"));
  await assert.rejects(
    findPartitionWithPath(runner, "/dev/loop1", "etc", { log, mount }),
    UnmountError,
  );
});
