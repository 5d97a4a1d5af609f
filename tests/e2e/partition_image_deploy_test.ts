/**
 * Acceptance test: a real, unmodified Ironic conductor (21.4 and 29) deploys a qcow2 *partition* image
 * (instance_info with kernel, ramdisk and root_gb, boot mode UEFI) through the agent onto a loop
 * device. The test then reads the device: a GPT label, the ESP (vfat, `efi-part`), the root
 * partition last holding the image's filesystem, and the root UUID Ironic recorded.
 *
 * This VM boots BIOS, so the agent cannot create UEFI boot entries for the instance here (that
 * path is covered by src/uefi/boot_entries_test.ts), and Ironic 21.4 asks it to install the
 * image's GRUB, which this minimal image (no /bin/sh, no GRUB) cannot do: the agent runs with
 * --ignore-bootloader-failure, and the test checks that the failure was the expected one and
 * that no mount of the GRUB attempt is left behind (the command sequence is tested in
 * src/uefi/grub_install_test.ts).
 *
 *   deno test -A --no-prompt tests/e2e/partition_image_deploy_test.ts
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
const ROOT_MIB = 16;
/** ESP (550) + root_gb 1 (1024) + alignment and backup GPT. */
const DISK_MIB = 1600;
const ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";

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

/** An ext4 root filesystem image and its qcow2 conversion. */
async function buildImages(dir: string): Promise<{ raw: Uint8Array; qcow2: string; uuid: string }> {
  await Deno.mkdir(`${dir}/rootfs/etc`, { recursive: true });
  await Deno.writeTextFile(`${dir}/rootfs/etc/hostname`, "partition-e2e\n");
  const raw = `${dir}/root.img`;
  await tool("mkfs.ext4", ["-q", "-F", "-L", "root", "-d", `${dir}/rootfs`, raw, `${ROOT_MIB}M`]);
  await tool("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, `${dir}/root.qcow2`]);
  const uuid = blkid(await tool("blkid", ["-p", "-o", "export", raw])).UUID!;
  return { raw: await Deno.readFile(raw), qcow2: `${dir}/root.qcow2`, uuid };
}

async function sha256Hex(path: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(path)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Partitions as parted reads them from the device, in bytes, with the label type. */
async function partitions(disk: LoopDevice) {
  const out = await tool("parted", ["-s", "-m", disk.path, "unit", "B", "print"]);
  const lines = out.trim().split("\n");
  return {
    label: lines[1]!.split(":")[5],
    parts: lines.slice(2).map((line) => {
      const [number, start, end, , , , flags] = line.replace(/;$/, "").split(":");
      return { number: Number(number), start: parseInt(start!), end: parseInt(end!), flags };
    }),
  };
}

function blkid(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.trim().split("\n").map((line) => line.split("=", 2) as [string, string]),
  );
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} deploys a UEFI partition image (qcow2) through the agent`,
    ignore: cannotRunE2e(),
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "partition-e2e-" });
      try {
        const image = await buildImages(dir);
        await using images = startImageServer({
          "/root.qcow2": { body: { path: image.qcow2 } },
          // Ironic only needs these to exist to treat the image as a partition image.
          "/vmlinuz": { body: "kernel" },
          "/initrd": { body: "ramdisk" },
        });
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
            name: "partition-image-node",
            deploy_interface: "direct",
            properties: {
              cpus: 1,
              memory_mb: 2048,
              local_gb: 2,
              cpu_arch: "x86_64",
              capabilities: "boot_mode:uefi",
              root_device: { name: disk.path },
            },
            // In the POST: Ironic 29 breaks a node on any PATCH (see the recipe).
            instance_info: {
              image_source: images.url("/root.qcow2"),
              kernel: images.url("/vmlinuz"),
              ramdisk: images.url("/initrd"),
              image_disk_format: "qcow2",
              image_os_hash_algo: "sha256",
              image_os_hash_value: await sha256Hex(image.qcow2),
              root_gb: 1,
            },
          });
          await client.createPort(node.uuid, await physicalMac());
          await using watching = watchPower(client, node.uuid, {
            agent: {
              apiUrl: ironic.url,
              blockDevices: [disk.path],
              extraArgs: ["--ignore-bootloader-failure"],
            },
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
          await client.setProvisionState(node.uuid, "active");
          const deployed = await client.waitForProvisionState(node.uuid, "active", {
            timeoutMs: 240_000,
            signal: watching.signal,
          });
          assert.equal(deployed.last_error, null);
          await watching.settled();
          assert.equal(watching.boots, 1, "one ramdisk boot for the deployment");
          assert.deepEqual(watching.problems, []);
          const internal = deployed.driver_internal_info as Record<string, unknown>;
          assert.equal(
            internal.is_whole_disk_image,
            false,
            "Ironic treated it as a partition image",
          );

          await tool("sync", []);
          await tool("blockdev", ["--flushbufs", disk.path]);
          await tool("partprobe", [disk.path]);
          const { label, parts } = await partitions(disk);
          assert.equal(label, "gpt");
          assert.deepEqual(
            parts.map((p) => [p.number, p.start / MiB, (p.end + 1) / MiB]),
            [[1, 1, 551], [2, 551, 1575]],
          );
          const esp = blkid(await tool("blkid", ["-p", "-o", "export", `${disk.path}p1`]));
          assert.equal(esp.TYPE, "vfat");
          assert.equal(esp.LABEL, "efi-part");
          assert.equal(esp.PART_ENTRY_TYPE, ESP_GUID);
          const root = blkid(await tool("blkid", ["-p", "-o", "export", `${disk.path}p2`]));
          assert.equal(root.UUID, image.uuid);
          assert.equal(internal.root_uuid_or_disk_id, image.uuid, "Ironic recorded the root UUID");
          // The one expected failure: a BIOS-booted ramdisk is asked for GRUB, and the agent
          // really tries the image's: it mounts the root, but this test image has no /dev,
          // /bin/sh or GRUB to chroot into, and everything it mounted is unmounted again.
          const agentLog = await Deno.readTextFile(watching.agents[0]!.logFile);
          if (/installing GRUB from the image/.test(agentLog)) {
            // Mounting rewrote the superblock and journal: compare the files, not the bytes.
            const hostname = await tool("debugfs", ["-R", "cat /etc/hostname", `${disk.path}p2`]);
            assert.equal(hostname, "partition-e2e\n", "the root partition holds the image");
          } else {
            const written = await readBacking(disk, parts[1]!.start, image.raw.length);
            assert.ok(
              written.every((b, i) => b === image.raw[i]),
              "the root partition holds the image",
            );
          }
          // Ironic 21.4 sends enable_bios_bootloader_install=true; Ironic 29 leaves it false.
          if (/installing GRUB from the image/.test(agentLog)) {
            assert.match(agentLog, /ignoring boot loader failure.*Installing GRUB2 boot loader/);
          } else {
            assert.match(
              agentLog,
              /ignoring boot loader failure.*legacy BIOS bootloaders disabled/,
            );
          }
          const mounts = await Deno.readTextFile("/proc/self/mountinfo");
          assert.doesNotMatch(mounts, /agent-grub-/, "a GRUB mount was left behind");
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
