/**
 * Software RAID on real loop devices (root only). Every run is fenced to the loops created
 * here (`onlyBlockDevices` + `--protect-host`).
 *
 * - The partitioning test runs everywhere loops work: parted, partx and udev act for real on
 *   the loops; only mdadm is simulated, because the development machine's kernel has no MD
 *   driver (`CONFIG_MD` unset, no /proc/mdstat).
 * - The mdadm tests need /proc/mdstat and are ignored without it. They stop every array they
 *   created (and only those) and detach their loops, even when an assertion fails.
 */
import assert from "node:assert/strict";
import type { Node } from "../hardware/manager.ts";
import { Logger } from "../log.ts";
import { type Runner, systemRunner, ToolError } from "../system/run.ts";
import { createLoopDevice, type LoopDevice } from "../../tests/harness/loop.ts";
import { createConfiguration, type RaidOptions } from "./create.ts";
import { deleteConfiguration } from "./delete.ts";
import { parseMdadmDetail } from "./mdadm.ts";
import { createRaidState } from "./state.ts";

const log = new Logger({ test: "raid_loop" });

async function has(name: string): Promise<boolean> {
  return await systemRunner.run("sh", ["-c", `command -v ${name}`]).then(() => true, () => false);
}
const canUseLoops = Deno.build.os === "linux" && Deno.uid() === 0 && (await has("losetup")) &&
  (await has("parted")) && (await has("mdadm"));
const hasMd = canUseLoops &&
  await Deno.stat("/proc/mdstat").then(() => true, () => false);
const base = { sanitizeResources: false, sanitizeOps: false };

function raidOptions(runner: Runner, loops: LoopDevice[], node: Node): RaidOptions {
  const only = loops.map((l) => l.path);
  return {
    runner,
    log,
    node,
    onlyBlockDevices: only,
    fence: { protectHost: true, onlyBlockDevices: only },
    state: createRaidState(),
    uefi: false,
  };
}

/**
 * Drops the kernel's partitions of a loop. Detaching a loop without the partscan flag leaves
 * partitions added by parted/partx behind, and the next user of that loop number sees them
 * (measured on kernel 6.18: a fresh loop showed a stale `p1`).
 */
async function dropPartitions(loop: LoopDevice): Promise<void> {
  await systemRunner.run("partx", ["-d", loop.path], { okCodes: [0, 1] });
}

async function loops(count: number, sizeMiB: number): Promise<LoopDevice[] & AsyncDisposable> {
  const list: LoopDevice[] = [];
  const disposable = Object.assign(list, {
    async [Symbol.asyncDispose]() {
      for (const loop of list.reverse()) {
        await dropPartitions(loop).catch(() => {});
        await loop[Symbol.asyncDispose]();
      }
    },
  });
  try {
    for (let i = 0; i < count; i++) {
      const loop = await createLoopDevice({ sizeMiB });
      list.push(loop);
      await dropPartitions(loop);
    }
  } catch (err) {
    await disposable[Symbol.asyncDispose]();
    throw err;
  }
  return disposable;
}

/** Partitions as parted reads them back: `[number, startMiB, endMiB]`. */
async function partitionTable(disk: string): Promise<[number, number, number][]> {
  const { stdout } = await systemRunner.run("parted", ["-sm", disk, "unit", "MiB", "print"]);
  return stdout.split("\n").filter((l) => /^\d+:/.test(l)).map((l) => {
    const [n, start, end] = l.split(":");
    return [Number(n), parseFloat(start!), parseFloat(end!)];
  });
}

/** The real runner, with mdadm simulated (arrays recorded, never created in the kernel). */
function withSimulatedMdadm() {
  // A list, not a map: no md node appears in the kernel, so every array is "/dev/md<first free>".
  const created: [string, string[]][] = [];
  const runner: Runner = {
    pipe: systemRunner.pipe,
    run(cmd, args, options) {
      if (cmd !== "mdadm") return systemRunner.run(cmd, args, options);
      const line = ["mdadm", ...args].join(" ");
      if (args[0] === "--create") {
        created.push([args[1]!, args.slice(-Number(args[args.indexOf("--raid-devices") + 1]))]);
        return Promise.resolve({ code: 0, stdout: "", stderr: "" });
      }
      const members = created.findLast(([md]) => md === args[1])?.[1];
      if (args[0] === "--detail" && members) {
        const rows = members.map((m, i) => `  ${i}  7  ${i}  ${i}  active sync  ${m}`);
        const table = "    Number   Major   Minor   RaidDevice State\n";
        return Promise.resolve({ code: 0, stdout: table + rows.join("\n") + "\n", stderr: "" });
      }
      return Promise.reject(
        new ToolError({ command: line, exitCode: 1, stderr: "" }, "not simulated"),
      );
    },
  };
  return { runner, created };
}

Deno.test({
  name: "createConfiguration() partitions real loop holders for RAID 1 + RAID 5 (mdadm simulated)",
  ...base,
  ignore: !canUseLoops,
  async fn() {
    await using disks = await loops(3, 1280); // sparse: only the partition tables are written
    const { runner, created } = withSimulatedMdadm();
    const node: Node = {
      uuid: "raid-loop",
      target_raid_config: {
        logical_disks: [
          { size_gb: 1, raid_level: "1", controller: "software", is_root_volume: true },
          { size_gb: "MAX", raid_level: "5", controller: "software", volume_name: "data" },
        ],
      },
    };
    const options = raidOptions(runner, disks, node);
    await createConfiguration(options, node.target_raid_config);
    for (const disk of disks) {
      const table = await partitionTable(disk.path);
      assert.equal(table.length, 2, `${disk.path} has two partitions`);
      assert.deepEqual(table.map(([n]) => n), [1, 2]);
      assert.equal(
        table[0]![1],
        1,
        "the first RAID partition starts at sgdisk's first free sector",
      );
      assert.equal(table[0]![2], 1024, "and ends at 1 GiB");
      assert.ok(table[1]![2] > 1270, "the MAX partition runs to the end of the disk");
      // The kernel knows the partitions mdadm is given.
      await Deno.stat(`${disk.path}p2`);
    }
    const paths = disks.map((d) => d.path);
    assert.deepEqual(created.map(([, members]) => members), [
      paths.map((p) => `${p}p1`),
      paths.map((p) => `${p}p2`),
    ]);
    assert.ok(options.state.rootVolume?.startsWith("/dev/md"));
  },
});

/** Stops the arrays this test created that are still running; never any other. */
async function stopArrays(created: Set<string>): Promise<void> {
  for (const md of created) {
    await systemRunner.run("mdadm", ["--stop", md], { okCodes: [0, 1] }).catch(() => {});
  }
}

/** The real runner, remembering every array it was asked to create. */
function recordingRunner(created: Set<string>): Runner {
  return {
    pipe: systemRunner.pipe,
    run(cmd, args, options) {
      if (cmd === "mdadm" && args[0] === "--create") created.add(args[1]!);
      return systemRunner.run(cmd, args, options);
    },
  };
}

for (
  const [label, level, count] of [["RAID 1", "1", 2], ["RAID 5", "5", 3], [
    "RAID 10",
    "1+0",
    4,
  ]] as const
) {
  Deno.test({
    name: `createConfiguration() and deleteConfiguration() build and remove ${label} on loops`,
    ...base,
    ignore: !hasMd,
    async fn() {
      await using disks = await loops(count, 1280);
      const created = new Set<string>();
      try {
        const runner = recordingRunner(created);
        // The first logical disk must be RAID 1 (spec 12 §2); the level under test comes second.
        const logical: Record<string, unknown>[] = [
          { size_gb: 1, raid_level: "1", controller: "software", volume_name: "root" },
        ];
        if (level !== "1") {
          logical.push({
            size_gb: "MAX",
            raid_level: level,
            controller: "software",
            volume_name: "data",
          });
        }
        const node: Node = { uuid: "raid-md", target_raid_config: { logical_disks: logical } };
        const options = raidOptions(runner, disks, node);
        await createConfiguration(options, node.target_raid_config);
        const arrays = [...created];
        assert.equal(arrays.length, logical.length);
        const expectLevel = level === "1+0" ? "raid10" : `raid${level}`;
        const last = parseMdadmDetail(
          (await systemRunner.run("mdadm", ["--detail", arrays.at(-1)!])).stdout,
        );
        assert.equal(last.level, expectLevel);
        assert.equal(last.components.length, count);

        await deleteConfiguration(options);
        for (const md of arrays) {
          const exists = await Deno.stat(`/sys/block/${md.slice(5)}/md`).then(
            () => true,
            () => false,
          );
          assert.ok(!exists, `${md} is stopped`);
        }
        for (const disk of disks) {
          const signatures = await systemRunner.run("wipefs", ["--no-act", disk.path]);
          assert.equal(signatures.stdout.trim(), "", `${disk.path} carries no signature`);
          const md = await systemRunner.run("mdadm", ["--examine", disk.path], { okCodes: [0, 1] });
          assert.equal(md.code, 1, `${disk.path} has no md superblock`);
        }
      } finally {
        await stopArrays(created);
      }
    },
  });
}
