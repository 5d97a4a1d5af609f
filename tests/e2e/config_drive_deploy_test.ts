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
import { type LoopDevice, readBacking } from "../harness/loop.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  enrollNode,
  MiB,
  sha256Hex,
  transition,
  watchNode,
  withFlow,
} from "../harness/flow_fixtures.ts";
import { tool } from "../harness/process_util.ts";

const IMAGE_MIB = 8;
const DISK_MIB = 128;
const META = '{"uuid": "e2e-config-drive", "hostname": "e2e"}';

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
  await tool("genisoimage", ["-quiet", "-o", "cd.iso", "-V", "config-2", "-r", "-J", "cd"], {
    cwd: dir,
  });
  const iso = await Deno.readFile(`${dir}/cd.iso`);
  const gz = new Blob([iso]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer()).toBase64();
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
      await withFlow(release, {
        extraConfig: { conductor: { automated_clean: false } },
        diskMiB: DISK_MIB,
      }, async (flow) => {
        const { dir, disk, images } = flow;
        const { raw, qcow2 } = await buildImages(dir);
        const configdrive = await buildConfigDrive(dir);
        images.serve("/disk.qcow2", { body: { path: qcow2 } });
        const node = await enrollNode(flow, {
          name: "config-drive-node",
          instance_info: {
            image_source: images.url("/disk.qcow2"),
            image_disk_format: "qcow2",
            image_os_hash_value: await sha256Hex(await Deno.readFile(qcow2)),
          },
        });
        await using watching = watchNode(flow, node, { maxBoots: 2 });
        await transition(flow, watching, node, "manage", "manage", "manageable");
        await transition(flow, watching, node, "provide", "provide", "available");
        const deployed = await transition(flow, watching, node, "deploy", "active", "active", {
          configdrive,
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
      });
    },
  });
}
