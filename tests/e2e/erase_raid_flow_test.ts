/**
 * Acceptance test: a real, unmodified Ironic conductor (21.4 and 29) runs automated cleaning with
 * `erase_devices` enabled (`[deploy]erase_devices_priority = 10`) on two loop devices, then
 * manual cleaning with the `agent` RAID interface, which Ironic's `fake-hardware` type accepts
 * (`supported_raid_interfaces` = FakeRAID + NoRAID + AgentRAID).
 *
 * `raid.delete_configuration` runs through Ironic everywhere. `raid.create_configuration` with a
 * node `target_raid_config` needs the kernel's MD driver; on a machine without /proc/mdstat that
 * test is ignored (the development machine's kernel has `CONFIG_MD` unset).
 *
 *   deno test -A --no-prompt tests/e2e/erase_raid_flow_test.ts
 */
import assert from "node:assert/strict";
import { createLoopDevice, type LoopDevice, writeBacking } from "../harness/loop.ts";
import { type IronicInstance, type IronicRelease, startIronic } from "../harness/ironic.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  physicalMac,
} from "../harness/flow_fixtures.ts";
import { type PowerWatcher, watchPower } from "../harness/power_watcher.ts";
import { printDiagnostics, printTails } from "../harness/process_util.ts";

const MiB = 1024 * 1024;
const hasMd = await Deno.stat("/proc/mdstat").then(() => true, () => false);

async function tool(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}

/** Random data at the start, middle and end of the backing file, plus an MBR signature. */
async function scribble(loop: LoopDevice): Promise<void> {
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < chunk.length; i += 65536) {
    crypto.getRandomValues(chunk.subarray(i, i + 65536));
  }
  chunk[510] = 0x55;
  chunk[511] = 0xaa;
  for (const offset of [0, loop.sizeBytes / 2, loop.sizeBytes - MiB]) {
    await writeBacking(loop, offset, chunk);
  }
  await tool("blockdev", ["--flushbufs", loop.path]);
}

/** Non-zero bytes in the backing file, read after the loop's buffers are flushed. */
async function nonZeroBytes(loop: LoopDevice): Promise<number> {
  await tool("sync", []);
  await tool("blockdev", ["--flushbufs", loop.path]);
  return (await Deno.readFile(loop.file)).reduce((n, b) => n + (b === 0 ? 0 : 1), 0);
}

async function failureDiagnostics(ironic: IronicInstance, watcher: PowerWatcher | null) {
  if (watcher) printDiagnostics(`\n===== power watcher events =====\n${watcher.events.join("\n")}`);
  await printTails([{ label: "ironic", path: ironic.logFile }], 150);
  for (const agent of (watcher?.agents ?? []).slice(-2)) {
    await printTails([{ label: "agent", path: agent.logFile }], 150);
  }
}

interface Setup extends AsyncDisposable {
  ironic: IronicInstance;
  loops: LoopDevice[];
  dir: string;
}

async function setUp(release: IronicRelease): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "erase-raid-flow-" });
  const loops: LoopDevice[] = [];
  let ironic: IronicInstance | null = null;
  const dispose = async () => {
    await ironic?.[Symbol.asyncDispose]();
    for (const loop of loops) {
      // Partitions added on a loop outlive its detach; drop them (ours only).
      await tool("partx", ["-d", loop.path]).catch(() => {});
      await loop[Symbol.asyncDispose]();
    }
    await Deno.remove(dir, { recursive: true });
  };
  try {
    ironic = await startIronic({
      release,
      extraConfig: {
        DEFAULT: { enabled_raid_interfaces: "agent,no-raid" },
        deploy: { erase_devices_priority: 10 },
      },
    });
    for (let i = 0; i < 2; i++) loops.push(await createLoopDevice({ sizeMiB: 32 }));
    return { ironic, loops, dir, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} automated cleaning with erase_devices erases both disks`,
    ignore: cannotRunE2e(),
    async fn() {
      await using setup = await setUp(release);
      const { ironic, loops } = setup;
      const client = ironic.client;
      let watcher: PowerWatcher | null = null;
      try {
        for (const loop of loops) await scribble(loop);
        for (const loop of loops) assert.ok((await nonZeroBytes(loop)) > MiB);
        const node = await client.createNode({
          name: "erase-node",
          deploy_interface: "direct",
          raid_interface: "agent",
          properties: { cpus: 1, memory_mb: 2048, local_gb: 1, cpu_arch: "x86_64" },
        });
        await client.createPort(node.uuid, await physicalMac());
        await using watching = watchPower(client, node.uuid, {
          agent: { apiUrl: ironic.url, blockDevices: loops.map((l) => l.path) },
          logDir: setup.dir,
          maxBoots: 4,
        });
        watcher = watching;
        await client.setProvisionState(node.uuid, "manage");
        await client.waitForProvisionState(node.uuid, "manageable", {
          timeoutMs: 30_000,
          signal: watching.signal,
        });

        const started = performance.now();
        await client.setProvisionState(node.uuid, "provide");
        await client.waitForProvisionState(node.uuid, "available", {
          timeoutMs: 180_000,
          signal: watching.signal,
        });
        const seconds = (performance.now() - started) / 1000;
        await watching.settled();
        assert.equal(watching.boots, 1, "one ramdisk boot for cleaning");
        for (const loop of loops) {
          assert.equal(await nonZeroBytes(loop), 0, `${loop.path} is erased end to end`);
        }
        // erase_devices ran (not only erase_devices_metadata, which leaves the middle alone).
        const agentLog = await Deno.readTextFile(watching.agents[0]!.logFile);
        assert.match(agentLog, /Erasing block devices/);
        const final = await client.getNode(node.uuid);
        assert.equal(final.last_error, null);
        printDiagnostics(
          `\n===== automated cleaning with erase_devices: ${seconds.toFixed(1)} s =====`,
        );
        await watching.stop();
      } catch (err) {
        await failureDiagnostics(ironic, watcher);
        throw err;
      }
    },
  });
}

/** `PUT /v1/nodes/{node}/states/raid`. */
async function setTargetRaidConfig(ironic: IronicInstance, node: string, config: unknown) {
  await ironic.client.request("PUT", `/v1/nodes/${node}/states/raid`, config);
}

async function manualClean(
  ironic: IronicInstance,
  loops: LoopDevice[],
  dir: string,
  steps: Record<string, unknown>[],
  before?: (node: string) => Promise<void>,
) {
  const client = ironic.client;
  const node = await client.createNode({
    name: `raid-node-${crypto.randomUUID().slice(0, 8)}`,
    deploy_interface: "direct",
    raid_interface: "agent",
    properties: { cpus: 1, memory_mb: 2048, local_gb: 1, cpu_arch: "x86_64" },
  });
  await client.createPort(node.uuid, await physicalMac());
  const watching = watchPower(client, node.uuid, {
    agent: { apiUrl: ironic.url, blockDevices: loops.map((l) => l.path) },
    logDir: dir,
    maxBoots: 3,
  });
  try {
    await client.setProvisionState(node.uuid, "manage");
    await client.waitForProvisionState(node.uuid, "manageable", {
      timeoutMs: 30_000,
      signal: watching.signal,
    });
    await before?.(node.uuid);
    await client.setProvisionState(node.uuid, "clean", { cleanSteps: steps });
    await client.waitForProvisionState(node.uuid, "manageable", {
      timeoutMs: 180_000,
      signal: watching.signal,
    });
    await watching.settled();
    return { node: await client.getNode(node.uuid), watcher: watching };
  } catch (err) {
    await failureDiagnostics(ironic, watching);
    throw err;
  } finally {
    await watching.stop();
  }
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} runs raid.delete_configuration through the agent RAID ` +
      "interface",
    ignore: cannotRunE2e(),
    async fn() {
      await using setup = await setUp(release);
      const { node, watcher } = await manualClean(setup.ironic, setup.loops, setup.dir, [
        { interface: "raid", step: "delete_configuration" },
      ]);
      assert.equal(node.last_error, null);
      assert.equal(node.raid_interface, "agent");
      assert.deepEqual(node.raid_config, {}, "no RAID configuration is left on the node");
      const agentLog = await Deno.readTextFile(watcher.agents[0]!.logFile);
      assert.match(agentLog, /Not assembling arrays: --only-block-devices/);
    },
  });

  Deno.test({
    name: `${conductorLabel(release)} builds a software RAID 1 from target_raid_config with ` +
      "raid.create_configuration",
    ignore: cannotRunE2e() || !hasMd,
    async fn() {
      await using setup = await setUp(release);
      const target = {
        logical_disks: [{
          size_gb: "MAX",
          raid_level: "1",
          controller: "software",
          volume_name: "root",
          is_root_volume: true,
        }],
      };
      const created: string[] = [];
      try {
        const { node, watcher } = await manualClean(
          setup.ironic,
          setup.loops,
          setup.dir,
          [{ interface: "raid", step: "create_configuration" }],
          (uuid) => setTargetRaidConfig(setup.ironic, uuid, target),
        );
        const agentLog = await Deno.readTextFile(watcher.agents[0]!.logFile);
        for (const match of agentLog.matchAll(/Creating md array .*md=(\/dev\/md\d+)/g)) {
          created.push(match[1]!);
        }
        assert.equal(node.last_error, null);
        assert.equal((node.raid_config as { logical_disks: unknown[] }).logical_disks.length, 1);
        assert.equal(created.length, 1);
        const detail = await tool("mdadm", ["--detail", created[0]!]);
        assert.match(detail, /Raid Level : raid1/);
        for (const loop of setup.loops) assert.ok(detail.includes(`${loop.path}p1`));
      } finally {
        for (const md of created) await tool("mdadm", ["--stop", md]).catch(() => {});
      }
    },
  });
}
