/**
 * `erase_devices` on real loop devices (root only), each run fenced to the loops created here
 * by `onlyBlockDevices` and `--protect-host`: the overwrite path, the discard path, the skip
 * list and the shared-filesystem refusal, checked by reading the backing files.
 */
import assert from "node:assert/strict";
import { ProtectedDeviceError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { Logger } from "../log.ts";
import { type Runner, systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice, writeBacking } from "../../tests/harness/loop.ts";
import { eraseBlockDevice } from "./block_device.ts";
import { type DeviceProgress, eraseDevices, type EraseDevicesOptions } from "./devices.ts";

const log = new Logger({ test: "erase_devices_loop" });
const MiB = 1024 * 1024;

async function hasTool(name: string): Promise<boolean> {
  return await systemRunner.run("sh", ["-c", `command -v ${name}`]).then(() => true, () => false);
}
const canUseLoops = Deno.build.os === "linux" && Deno.uid() === 0 &&
  (await hasTool("losetup")) && (await hasTool("shred")) && (await hasTool("blkdiscard"));
const hasGfs2 = await hasTool("mkfs.gfs2");
const test = { ignore: !canUseLoops, sanitizeResources: false, sanitizeOps: false };

/** Random bytes at the start, middle and end of the loop (where a lazy erase would miss). */
async function scribble(loop: LoopDevice): Promise<void> {
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < chunk.length; i += 65536) {
    crypto.getRandomValues(chunk.subarray(i, i + 65536));
  }
  for (const offset of [0, loop.sizeBytes / 2, loop.sizeBytes - MiB]) {
    await writeBacking(loop, offset, chunk);
  }
}

async function allZero(loop: LoopDevice): Promise<boolean> {
  return (await Deno.readFile(loop.file)).every((b) => b === 0);
}

async function sha256(loop: LoopDevice): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(loop.file));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Makes the kernel refuse discards on this loop, so erasure must overwrite it. */
/**
 * A runner that reports no discard support for `without` (as a disk without TRIM would). Sysfs
 * itself is left alone: a loop's discard limit, once lowered, cannot be raised again and would
 * leak into every later user of that loop number.
 */
function runnerWithoutDiscard(without: LoopDevice[]): Runner {
  const prefixes = without.map((l) =>
    `/sys/class/block/${l.path.slice(5)}/queue/discard_max_bytes:`
  );
  return {
    async run(cmd, args, options) {
      const result = await systemRunner.run(cmd, args, options);
      const stdout = result.stdout.split("\n")
        .map((line) => prefixes.find((p) => line.startsWith(p)) ? `${line.split(":")[0]}:0` : line)
        .join("\n");
      return { ...result, stdout };
    },
    pipe: (cmd, args, options) => systemRunner.pipe(cmd, args, options),
  };
}

function options(
  loops: LoopDevice[],
  node: Node,
  extra: Partial<EraseDevicesOptions> = {},
  runner: Runner = systemRunner,
) {
  const only = loops.map((l) => l.path);
  return {
    runner: systemRunner,
    log,
    node,
    onlyBlockDevices: only,
    guardSpecialFilesystems: true,
    fence: { protectHost: true, onlyBlockDevices: only },
    eraseBlockDevice: (n, device, ctx) => eraseBlockDevice(runner, n, device, ctx),
    ...extra,
  } satisfies EraseDevicesOptions;
}

Deno.test({
  name: "eraseDevices() overwrites a loop without discard and discards one with it, in parallel",
  ...test,
  async fn() {
    await using plain = await createLoopDevice({ sizeMiB: 16 });
    await using thin = await createLoopDevice({ sizeMiB: 16 });
    await scribble(plain);
    await scribble(thin);
    assert.ok(!(await allZero(plain)) && !(await allZero(thin)));

    const snapshots: Record<string, DeviceProgress>[] = [];
    const node: Node = { uuid: "n1", driver_internal_info: { disk_erasure_concurrency: 2 } };
    const result = await eraseDevices(options([plain, thin], node, {
      progress: (report) => snapshots.push(report.devices as Record<string, DeviceProgress>),
    }, runnerWithoutDiscard([plain])));

    assert.equal(result[plain.path]?.method, "shred");
    assert.equal(result[thin.path]?.method, "discard_zeroout");
    assert.ok(await allZero(plain), "the overwritten loop reads back as zeros");
    assert.ok(await allZero(thin), "the discarded loop reads back as zeros");
    // Both were in flight at once, and each published its method while running.
    assert.ok(
      snapshots.some((s) =>
        s[plain.path]?.state === "erasing" && s[thin.path]?.state === "erasing"
      ),
    );
    assert.ok(
      snapshots.some((s) =>
        s[plain.path]?.method === "shred" && s[plain.path]?.state === "erasing"
      ),
    );
    assert.deepEqual(snapshots.at(-1)?.[thin.path]?.state, "done");
  },
});

Deno.test({
  name: "eraseDevices() leaves a skip-listed loop byte-identical",
  ...test,
  async fn() {
    await using kept = await createLoopDevice({ sizeMiB: 16 });
    await using wiped = await createLoopDevice({ sizeMiB: 16 });
    await scribble(kept);
    await scribble(wiped);
    const before = await sha256(kept);
    const node: Node = { uuid: "n1", properties: { skip_block_devices: [{ name: kept.path }] } };
    const result = await eraseDevices(options([kept, wiped], node));
    assert.deepEqual(Object.keys(result), [wiped.path]);
    assert.equal(await sha256(kept), before);
    assert.ok(await allZero(wiped));
  },
});

Deno.test({
  name: "eraseDevices() refuses a VMFS or GFS2 loop with a clear error and touches no device",
  ...test,
  async fn(t) {
    await t.step("VMFS partition (GPT)", async () => {
      await using vmfs = await createLoopDevice({ sizeMiB: 16 });
      await using other = await createLoopDevice({ sizeMiB: 16 });
      await systemRunner.run("sgdisk", [
        "-n1:0:0",
        "-t1:AA31E02A-400F-11DB-9590-000C2911D1B8",
        vmfs.path,
      ]);
      // No partition scan: the kernel does not see p1, the guard must read the table itself.
      await scribble(other);
      const before = [await sha256(vmfs), await sha256(other)];
      await assert.rejects(
        eraseDevices(options([vmfs, other], { uuid: "n1" })),
        (err) =>
          err instanceof ProtectedDeviceError &&
          err.details.includes("Protected VMware VMFS Partition (GPT) located on device"),
      );
      assert.deepEqual([await sha256(vmfs), await sha256(other)], before);
    });
    await t.step({
      name: "GFS2 filesystem",
      ignore: !hasGfs2,
      async fn() {
        await using gfs2 = await createLoopDevice({ sizeMiB: 64 });
        await using other = await createLoopDevice({ sizeMiB: 16 });
        await systemRunner.run("mkfs.gfs2", ["-O", "-p", "lock_nolock", "-j", "1", gfs2.path]);
        await scribble(other);
        const before = [await sha256(gfs2), await sha256(other)];
        await assert.rejects(
          eraseDevices(options([gfs2, other], { uuid: "n1" })),
          (err) =>
            err instanceof ProtectedDeviceError &&
            err.details.includes(
              `Protected Red Hat Global File System 2 located on device ${gfs2.path}`,
            ),
        );
        assert.deepEqual([await sha256(gfs2), await sha256(other)], before);
      },
    });
  },
});
