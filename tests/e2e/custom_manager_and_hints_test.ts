/**
 * Acceptance test (issue #4): a real, unmodified Ironic conductor (21.4 and 29)
 *
 * 1. runs a custom hardware manager's clean step (`managers/examples/site_manager.ts`,
 *    `record_asset_tag`, loaded with `--hardware-managers`) in a manual cleaning, after which the
 *    node is `manageable` again and the agent's log shows the step ran on that manager;
 * 2. deploys a whole-disk image with `properties.root_device` hints onto the one of two visible
 *    loop devices that the hints select, leaving the other byte for byte as it was.
 *
 * Automated cleaning is off, so nothing but the deployment touches the loop devices. Needs root
 * (loop devices, apt) and Debian's `ironic-common` (installed when missing). Run it alone with:
 *
 *   deno test -A --no-prompt tests/e2e/custom_manager_and_hints_test.ts
 *
 * `IRONIC_E2E_KEEP=1` keeps Ironic's state dir and the agents' logs for inspection.
 */

import assert from "node:assert/strict";
import { createLoopDevice, type LoopDevice, readBacking } from "../harness/loop.ts";
import { startImageServer } from "../harness/image_server.ts";
import { type IronicInstance, startIronic } from "../harness/ironic.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  physicalMac,
  sha256Hex,
} from "../harness/flow_fixtures.ts";
import { type PowerWatcher, watchPower } from "../harness/power_watcher.ts";
import { printDiagnostics, printTails } from "../harness/process_util.ts";

const MiB = 1024 * 1024;
const IMAGE_SIZE = 4 * MiB;
const SECTOR = 512;
const ASSET_TAG = "rack-42-u07";

/** A raw whole-disk image: MBR (disk identifier 0), one partition of random bytes from 1 MiB. */
function buildWholeDiskImage(sizeBytes: number): Uint8Array<ArrayBuffer> {
  const image = new Uint8Array(sizeBytes);
  const view = new DataView(image.buffer);
  const entry = 446;
  image.set([0x00, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff], entry);
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

/** The first `length` bytes of the backing file, after the loop device's buffers are flushed. */
async function readDisk(disk: LoopDevice, length: number): Promise<Uint8Array<ArrayBuffer>> {
  await run("sync", []);
  await run("blockdev", ["--flushbufs", disk.path]);
  return new Uint8Array(await readBacking(disk, 0, length));
}

/** Fills the start of the backing file (never the block device) with random bytes. */
async function seedRandom(disk: LoopDevice, length: number): Promise<void> {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, length)));
  }
  using file = await Deno.open(disk.file, { write: true });
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
  await file.sync();
  await run("blockdev", ["--flushbufs", disk.path]);
}

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ironic-hints-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      if (Deno.env.get("IRONIC_E2E_KEEP") !== "1") await Deno.remove(path, { recursive: true });
    },
  };
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
  for (const [i, agent] of (watcher?.agents ?? []).entries()) {
    await printTails([{ label: `agent #${i + 1}`, path: agent.logFile }], 150);
  }
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} runs a custom manager's clean step and deploys to the ` +
      "hinted loop device",
    ignore: cannotRunE2e(),
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
      await using ironic = await phase("start ironic", () =>
        startIronic({
          release,
          httpUrl: images.origin,
          // Nothing but the deployment may touch the disks, so the bystander can be compared.
          extraConfig: { conductor: { automated_clean: false } },
        }));
      // Both under the 4 GiB default rule; only `target` is at least 1 GiB (sparse files).
      await using bystander = await createLoopDevice({ sizeMiB: 64 });
      await using target = await createLoopDevice({ sizeMiB: 1088 });
      const client = ironic.client;
      let watcher: PowerWatcher | null = null;

      try {
        await seedRandom(bystander, 2 * MiB);
        await seedRandom(target, 2 * MiB);
        const bystanderBefore = await sha256Hex(await readDisk(bystander, 2 * MiB));

        const node = await client.createNode({
          name: "e2e-hints-node",
          driver: "fake-hardware",
          deploy_interface: "direct",
          properties: {
            cpus: 1,
            memory_mb: 2048,
            local_gb: 1,
            cpu_arch: "x86_64",
            root_device: { size: ">= 1" },
          },
          // In the POST: Ironic 29 breaks a node on any PATCH (see the recipe).
          instance_info: {
            image_source: images.url("/disk.img"),
            image_os_hash_algo: "sha256",
            image_os_hash_value: digest,
            root_gb: 1,
          },
        });
        await client.createPort(node.uuid, await physicalMac());
        await using watching = watchPower(client, node.uuid, {
          agent: {
            apiUrl: ironic.url,
            blockDevices: [bystander.path, target.path],
            extraArgs: ["--hardware-managers", "managers/examples/site_manager.ts"],
          },
          logDir: dir.path,
          maxBoots: 4,
        });
        watcher = watching;

        await phase("manage", async () => {
          await client.setProvisionState(node.uuid, "manage");
          await client.waitForProvisionState(node.uuid, "manageable", {
            timeoutMs: 30_000,
            signal: watching.signal,
          });
        });

        await phase("manual cleaning with record_asset_tag", async () => {
          await client.setProvisionState(node.uuid, "clean", {
            cleanSteps: [{
              interface: "deploy",
              step: "record_asset_tag",
              args: { tag: ASSET_TAG },
            }],
          });
          await client.waitForProvisionState(node.uuid, "manageable", {
            timeoutMs: 180_000,
            signal: watching.signal,
          });
        });
        await watcher.settled();
        assert.equal(watcher.boots, 1, "one ramdisk boot for the manual cleaning");
        assert.equal(watcher.current, null, "cleaning ends with the machine powered off");
        const cleaned = await client.getNode(node.uuid);
        assert.equal(cleaned.last_error, null);
        const cleanLog = await Deno.readTextFile(watcher.agents[0]!.logFile);
        assert.match(cleanLog, /running step.*manager=SiteManager/, "dispatched to SiteManager");
        assert.match(cleanLog, new RegExp(`recording asset tag.*tag=${ASSET_TAG}`));
        assert.equal(
          await sha256Hex(await readDisk(bystander, 2 * MiB)),
          bystanderBefore,
          "the custom clean step writes no disk",
        );

        await phase("provide (no automated cleaning)", async () => {
          await client.setProvisionState(node.uuid, "provide");
          await client.waitForProvisionState(node.uuid, "available", {
            timeoutMs: 30_000,
            signal: watching.signal,
          });
        });
        await phase("deploy with root_device hints", async () => {
          await client.setProvisionState(node.uuid, "active");
          await client.waitForProvisionState(node.uuid, "active", {
            timeoutMs: 180_000,
            signal: watching.signal,
          });
        });
        await watcher.settled();
        assert.equal(watcher.boots, 2, "one ramdisk boot for the deployment");

        const written = await readDisk(target, image.length);
        assert.equal(await sha256Hex(written), digest, "the hinted device holds the image");
        assert.equal(
          await sha256Hex(await readDisk(bystander, 2 * MiB)),
          bystanderBefore,
          "the other visible device is untouched",
        );
        const deployLog = await Deno.readTextFile(watcher.agents[1]!.logFile);
        assert.match(
          deployLog,
          new RegExp(`Picked root device matching the root device hints.*device=${target.path}`),
        );
        assert.deepEqual(watcher.problems, []);

        await watching.stop();
        printDiagnostics(
          `\n===== e2e timings ${
            JSON.stringify({ conductor: release, flow: "custom-manager-hints" })
          } (ms) =====\n${JSON.stringify(timings)}`,
        );
      } catch (err) {
        await printFailureDiagnostics(ironic, watcher);
        throw err;
      }
    },
  });
}
