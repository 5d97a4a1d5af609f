/**
 * Acceptance test: a real, unmodified Ironic conductor (21.4 and 29) deploys a qcow2 whole-disk image with
 * a config drive (`baremetal node deploy --config-drive`) through the agent onto a loop device.
 * The test then reads the device: the image's partition holds the image's bytes, and a second
 * partition in the last 64 MiB carries the ISO 9660 config drive labelled `config-2`.
 *
 * Automated cleaning is off, so the ramdisk boots once. Run it alone with:
 *
 *   deno test -A --no-prompt tests/e2e/config_drive_deploy_test.ts
 */

import assert from "node:assert/strict";
import { createLoopDevice, type LoopDevice, readBacking } from "../harness/loop.ts";
import { startImageServer } from "../harness/image_server.ts";
import { startIronic } from "../harness/ironic.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  physicalMac,
} from "../harness/flow_fixtures.ts";
import { type PowerWatcher, watchPower } from "../harness/power_watcher.ts";
import { printDiagnostics, printTails } from "../harness/process_util.ts";

const MiB = 1024 * 1024;
const IMAGE_MIB = 8;
const DISK_MIB = 128;
const META = '{"uuid": "e2e-config-drive", "hostname": "e2e"}';

async function tool(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}

/** A GPT disk image with one partition of random bytes, and its qcow2 conversion. */
async function buildImages(dir: string): Promise<{ raw: Uint8Array; qcow2: string }> {
  const raw = `${dir}/disk.raw`;
  await tool("truncate", ["-s", `${IMAGE_MIB}M`, raw]);
  await tool("sgdisk", ["-n", "1:1M:0", "-c", "1:root", raw]);
  const data = new Uint8Array((IMAGE_MIB - 2) * MiB);
  for (let offset = 0; offset < data.length; offset += 65536) {
    crypto.getRandomValues(data.subarray(offset, offset + 65536));
  }
  // Leave a zero hole so the qcow2 has unallocated clusters.
  data.fill(0, 2 * MiB, 3 * MiB);
  {
    using file = await Deno.open(raw, { write: true });
    await file.seek(MiB, Deno.SeekMode.Start);
    let done = 0;
    while (done < data.length) done += await file.write(data.subarray(done));
  }
  await tool("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, `${dir}/disk.qcow2`]);
  return { raw: await Deno.readFile(raw), qcow2: `${dir}/disk.qcow2` };
}

/** What `baremetal node deploy --config-drive <dir>` sends: gzip+base64 of an ISO. */
async function buildConfigDrive(dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/cd/openstack/latest`, { recursive: true });
  await Deno.writeTextFile(`${dir}/cd/openstack/latest/meta_data.json`, META);
  await tool("genisoimage", ["-quiet", "-o", "cd.iso", "-V", "config-2", "-r", "-J", "cd"], dir);
  const iso = await Deno.readFile(`${dir}/cd.iso`);
  const gz = new Blob([iso]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer()).toBase64();
}

async function sha256Hex(path: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(path)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Partitions as parted reads them from the device, in bytes. */
async function partitions(disk: LoopDevice) {
  const out = await tool("parted", ["-s", "-m", disk.path, "unit", "B", "print"]);
  return out.trim().split("\n").slice(2).map((line) => {
    const [number, start, end, , , name] = line.split(":");
    return { number: Number(number), start: parseInt(start!), end: parseInt(end!), name };
  });
}

function blkid(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.trim().split("\n").map((line) => line.split("=", 2) as [string, string]),
  );
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} deploys a qcow2 whole-disk image with a config drive ` +
      "through the agent",
    ignore: cannotRunE2e(),
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "config-drive-e2e-" });
      try {
        const { raw, qcow2 } = await buildImages(dir);
        const configdrive = await buildConfigDrive(dir);
        await using images = startImageServer({ "/disk.qcow2": { body: { path: qcow2 } } });
        await using ironic = await startIronic({
          release,
          httpUrl: images.origin,
          extraConfig: { conductor: { automated_clean: false } },
        });
        await using disk = await createLoopDevice({ sizeMiB: DISK_MIB });
        const client = ironic.client;
        let watcher: PowerWatcher | null = null;
        try {
          const node = await client.createNode({
            name: "config-drive-node",
            deploy_interface: "direct",
            properties: {
              cpus: 1,
              memory_mb: 2048,
              local_gb: 1,
              cpu_arch: "x86_64",
              root_device: { name: disk.path },
            },
            // In the POST: Ironic 29 breaks a node on any PATCH (see the recipe).
            instance_info: {
              image_source: images.url("/disk.qcow2"),
              image_disk_format: "qcow2",
              image_os_hash_algo: "sha256",
              image_os_hash_value: await sha256Hex(qcow2),
              root_gb: 1,
            },
          });
          await client.createPort(node.uuid, await physicalMac());
          await using watching = watchPower(client, node.uuid, {
            agent: { apiUrl: ironic.url, blockDevices: [disk.path] },
            logDir: dir,
            maxBoots: 2,
          });
          watcher = watching;
          await client.setProvisionState(node.uuid, "manage");
          await client.waitForProvisionState(node.uuid, "manageable", {
            timeoutMs: 30_000,
            signal: watching.signal,
          });
          await client.setProvisionState(node.uuid, "provide");
          await client.waitForProvisionState(node.uuid, "available", {
            timeoutMs: 30_000,
            signal: watching.signal,
          });
          await client.setProvisionState(node.uuid, "active", { configdrive });
          const deployed = await client.waitForProvisionState(node.uuid, "active", {
            timeoutMs: 180_000,
            signal: watching.signal,
          });
          assert.equal(deployed.last_error, null);
          await watching.settled();
          assert.equal(watching.boots, 1, "one ramdisk boot for the deployment");
          assert.deepEqual(watching.problems, []);

          // The device as the instance will see it.
          await tool("sync", []);
          await tool("blockdev", ["--flushbufs", disk.path]);
          await tool("partprobe", [disk.path]);
          const parts = await partitions(disk);
          assert.equal(parts.length, 2, JSON.stringify(parts));
          assert.deepEqual(parts[0], { number: 1, start: MiB, end: parts[0]!.end, name: "root" });
          const root = await readBacking(disk, MiB, (IMAGE_MIB - 2) * MiB);
          const expected = raw.subarray(MiB, (IMAGE_MIB - 1) * MiB);
          assert.ok(root.every((b, i) => b === expected[i]), "partition 1 holds the image's bytes");
          assert.ok(
            parts[1]!.start >= disk.sizeBytes - 65 * MiB,
            `config drive at ${parts[1]!.start}`,
          );
          const cd = blkid(await tool("blkid", ["-p", "-o", "export", `${disk.path}p2`]));
          assert.equal(cd.LABEL, "config-2");
          assert.equal(cd.TYPE, "iso9660");
          const iso = await Deno.readFile(`${dir}/cd.iso`);
          const written = await readBacking(disk, parts[1]!.start, iso.length);
          assert.ok(
            written.every((b, i) => b === iso[i]),
            "partition 2 holds the config-drive ISO",
          );
          await watching.stop();
        } catch (err) {
          await printTails([{ label: "ironic", path: ironic.logFile }], 150);
          for (const agent of watcher?.agents ?? []) {
            await printTails([{ label: "agent", path: agent.logFile }], 150);
          }
          printDiagnostics(`power watcher: ${watcher?.events.join("\n")}`);
          throw err;
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
