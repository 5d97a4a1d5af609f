/**
 * Acceptance test: a real, unmodified Ironic 21.4 conductor drives this agent through automated
 * cleaning, a `direct` whole-disk deployment and an undeploy, on a loop device.
 *
 * Needs root (loop devices, apt), Debian's `ironic-common` (installed when missing) and about a
 * minute. Run it alone with:
 *
 *   deno test -A --no-prompt tests/e2e/ironic_flow_test.ts
 *
 * `IRONIC_E2E_KEEP=1` keeps Ironic's state dir and the agents' logs for inspection.
 */

import assert from "node:assert/strict";
import { createLoopDevice, type LoopDevice, readBacking } from "../harness/loop.ts";
import { startImageServer } from "../harness/image_server.ts";
import { type IronicInstance, startIronic } from "../harness/ironic.ts";
import { type PowerWatcher, watchPower } from "../harness/power_watcher.ts";
import { printDiagnostics, printTails } from "../harness/process_util.ts";

const MiB = 1024 * 1024;
const IMAGE_SIZE = 4 * MiB;
const SECTOR = 512;

/**
 * A raw whole-disk image: an MBR with disk identifier 0 (so `install_bootloader` has nothing to
 * do) and one Linux partition from 1 MiB to the end, filled with random bytes.
 */
function buildWholeDiskImage(sizeBytes: number): Uint8Array<ArrayBuffer> {
  const image = new Uint8Array(sizeBytes);
  const view = new DataView(image.buffer);
  const entry = 446;
  image.set([0x00, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff], entry); // status, CHS, type, CHS
  const first = MiB / SECTOR;
  view.setUint32(entry + 8, first, true);
  view.setUint32(entry + 12, sizeBytes / SECTOR - first, true);
  image[510] = 0x55;
  image[511] = 0xaa;
  for (let offset = MiB; offset < sizeBytes; offset += 65536) {
    crypto.getRandomValues(image.subarray(offset, Math.min(offset + 65536, sizeBytes)));
  }
  return image;
}

/** Which partition table the first sectors hold: "gpt", "mbr" or null. */
function partitionTable(head: Uint8Array): "gpt" | "mbr" | null {
  const gptSignature = new TextDecoder().decode(head.subarray(SECTOR, SECTOR + 8));
  if (gptSignature === "EFI PART") return "gpt";
  if (head[510] === 0x55 && head[511] === 0xaa) return "mbr";
  return null;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** MAC of the first physical network interface (one with a `device` link), as the agent sees it. */
async function physicalMac(): Promise<string> {
  const names = [];
  for await (const entry of Deno.readDir("/sys/class/net")) names.push(entry.name);
  for (const name of names.sort()) {
    try {
      await Deno.stat(`/sys/class/net/${name}/device`);
    } catch {
      continue;
    }
    const mac = (await Deno.readTextFile(`/sys/class/net/${name}/address`)).trim();
    if (mac && mac !== "00:00:00:00:00:00") return mac;
  }
  throw new Error("Cannot find a physical network interface in /sys/class/net");
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** What the test reads through the backing file, after the loop device's buffers are flushed. */
async function readDisk(disk: LoopDevice, length: number): Promise<Uint8Array> {
  await run("sync", []);
  await run("blockdev", ["--flushbufs", disk.path]);
  return await readBacking(disk, 0, length);
}

/** Writes bytes at the start of the loop device's backing file (never the block device). */
async function seedBackingFile(disk: LoopDevice, bytes: Uint8Array): Promise<void> {
  using file = await Deno.open(disk.file, { write: true });
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
  await file.sync();
  await run("blockdev", ["--flushbufs", disk.path]);
}

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ironic-flow-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      if (Deno.env.get("IRONIC_E2E_KEEP") !== "1") await Deno.remove(path, { recursive: true });
    },
  };
}

/** Ramdisk log tarballs Ironic stored, by kind (`<node>_<name>[_cleaning]_<time>.tar.gz`). */
async function storedRamdiskLogs(ironic: IronicInstance) {
  const logs = { cleaning: 0, deploy: 0 };
  for await (const entry of Deno.readDir(ironic.deployLogsDir)) {
    if (entry.name.includes("_cleaning_")) logs.cleaning++;
    else logs.deploy++;
  }
  return logs;
}

/** Offset of the first byte where `actual` differs from `expected`, or -1. */
function firstDifference(actual: Uint8Array, expected: Uint8Array): number {
  const length = Math.min(actual.length, expected.length);
  for (let i = 0; i < length; i++) if (actual[i] !== expected[i]) return i;
  return actual.length === expected.length ? -1 : length;
}

async function printFailureDiagnostics(ironic: IronicInstance, watcher: PowerWatcher | null) {
  if (watcher) {
    printDiagnostics(`\n===== power watcher events =====\n${watcher.events.join("\n")}`);
    printDiagnostics(`===== power watcher problems =====\n${watcher.problems.join("\n")}`);
  }
  await printTails([
    { label: "ironic console", path: ironic.consoleFile },
    { label: "ironic", path: ironic.logFile },
  ], 200);
  // The last few boots tell the story; a crash loop repeats itself.
  const agents = watcher?.agents ?? [];
  for (const [i, agent] of agents.entries()) {
    if (i < agents.length - 3) continue;
    await printTails([{ label: `agent #${i + 1} of ${agents.length}`, path: agent.logFile }], 150);
  }
}

Deno.test({
  name: "Ironic 21.4 cleans, deploys and undeploys a node through the agent",
  ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  async fn() {
    const timings: Record<string, number> = {};
    async function phase<T>(name: string, body: () => Promise<T>): Promise<T> {
      const started = performance.now();
      const result = await body();
      timings[name] = Math.round(performance.now() - started);
      return result;
    }

    await using dir = await tempDir();
    const image = buildWholeDiskImage(IMAGE_SIZE);
    const imageFile = `${dir.path}/disk.img`;
    await Deno.writeFile(imageFile, image);
    const digest = await sha256Hex(image);
    await using images = startImageServer({ "/disk.img": { body: { path: imageFile } } });
    await using ironic = await phase("start ironic", () => startIronic({ httpUrl: images.origin }));
    await using disk = await createLoopDevice({ sizeMiB: 64 });
    const client = ironic.client;
    let watcher: PowerWatcher | null = null;

    try {
      const node = await client.createNode({
        name: "e2e-node",
        driver: "fake-hardware",
        deploy_interface: "direct",
        properties: {
          cpus: 1,
          memory_mb: 2048,
          local_gb: 1,
          cpu_arch: "x86_64",
          // Without a hint the agent (like IPA) only picks disks of at least 4 GiB.
          root_device: { name: disk.path },
        },
      });
      await client.createPort(node.uuid, await physicalMac());
      await using watching = watchPower(client, node.uuid, {
        agent: { apiUrl: ironic.url, blockDevices: [disk.path] },
        logDir: dir.path,
        maxBoots: 6,
      });
      watcher = watching;

      await phase("manage", async () => {
        await client.setProvisionState(node.uuid, "manage");
        await client.waitForProvisionState(node.uuid, "manageable", {
          timeoutMs: 30_000,
          signal: watching.signal,
        });
      });

      // A partition table for the automated cleaning to remove.
      await seedBackingFile(disk, image.subarray(0, MiB));
      assert.equal(partitionTable(await readDisk(disk, 4096)), "mbr");

      await phase("provide (automated cleaning)", async () => {
        await client.setProvisionState(node.uuid, "provide");
        await client.waitForProvisionState(node.uuid, "available", {
          timeoutMs: 180_000,
          signal: watching.signal,
        });
      });
      await watcher.settled();
      assert.equal(watcher.boots, 1, "one ramdisk boot for cleaning");
      assert.equal(watcher.current, null, "the agent is stopped when cleaning powers off");
      assert.equal(partitionTable(await readDisk(disk, 4096)), null, "cleaning erased metadata");
      assert.equal((await storedRamdiskLogs(ironic)).cleaning, 1, "logs collected after cleaning");

      await client.setInstanceInfo(node.uuid, {
        image_source: images.url("/disk.img"),
        image_os_hash_algo: "sha256",
        image_os_hash_value: digest,
        root_gb: 1,
      });
      const deployed = await phase("deploy", async () => {
        await client.setProvisionState(node.uuid, "active");
        return await client.waitForProvisionState(node.uuid, "active", {
          timeoutMs: 180_000,
          signal: watching.signal,
        });
      });
      assert.equal(deployed.power_state, "power on", "the instance is booted");
      await watcher.settled();
      assert.equal(watcher.boots, 2, "one ramdisk boot for the deployment");
      assert.equal(watcher.current, null, "the machine boots its disk, not the agent");
      const written = await readDisk(disk, image.length);
      assert.equal(firstDifference(written, image), -1, "the loop device starts with the image");
      assert.equal(
        (await storedRamdiskLogs(ironic)).deploy,
        1,
        "logs collected at tear_down_agent",
      );

      await phase("undeploy (deleted, cleaning)", async () => {
        await client.setProvisionState(node.uuid, "deleted");
        await client.waitForProvisionState(node.uuid, "available", {
          timeoutMs: 180_000,
          signal: watching.signal,
        });
      });
      await watcher.settled();
      assert.equal(watcher.boots, 3, "one ramdisk boot for cleaning after undeploy");
      assert.equal(watcher.current, null);
      assert.equal(partitionTable(await readDisk(disk, 4096)), null, "cleaning erased metadata");
      const final = await client.getNode(node.uuid);
      assert.equal(final.power_state, "power off");
      assert.equal(final.last_error, null);
      assert.deepEqual(await storedRamdiskLogs(ironic), { cleaning: 2, deploy: 1 });
      assert.deepEqual(watcher.problems, []);
      assert.ok(images.requests("/disk.img") >= 1, "the image was downloaded");

      await watching.stop();
      printDiagnostics(
        `\n===== ironic flow timings (ms) =====\n${JSON.stringify(timings, null, 2)}\n` +
          `===== power watcher events =====\n${watcher.events.join("\n")}`,
      );
    } catch (err) {
      await printFailureDiagnostics(ironic, watcher);
      throw err;
    }
  },
});
