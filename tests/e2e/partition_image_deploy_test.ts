/**
 * Acceptance tests: a real, unmodified Ironic conductor (21.4 and 29) deploys a qcow2 *partition*
 * image (instance_info with kernel, ramdisk and root_gb) through the agent onto a loop device,
 * and `image.install_bootloader` installs the image's boot loader for real (no
 * --ignore-bootloader-failure): the image is a small Linux-like root filesystem that carries
 * busybox and the host's GRUB (tests/harness/grub_image.sh). Both conductors are configured to
 * send `enable_bios_bootloader_install=true` (Debian's default).
 *
 * - UEFI (GPT, ESP): this ramdisk booted BIOS and the kernel has no vfat, so the agent takes the
 *   path of spec 08 §10.5 step 3: `grub-mkconfig` in a chroot of the root, the image's
 *   /boot/efi/EFI loaders copied onto the new ESP with mtools, the ESP line added to fstab.
 * - BIOS: `grub-install <disk>` and `grub-mkconfig` in the chroot; msdos label on the first
 *   conductor, GPT with a BIOS boot partition (`disk_label:gpt`) on the second.
 *
 * Each test then boots the deployed disk in qemu (TCG; SeaBIOS, or OVMF for UEFI) until GRUB's
 * menu shows the image's entry on the serial console.
 *
 *   deno test -A --no-prompt tests/e2e/partition_image_deploy_test.ts
 */

import assert from "node:assert/strict";
import { createLoopDevice, type LoopDevice, readBacking } from "../harness/loop.ts";
import { startImageServer } from "../harness/image_server.ts";
import { type IronicRelease, startIronic } from "../harness/ironic.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  physicalMac,
  sha256Hex,
} from "../harness/flow_fixtures.ts";
import { type PowerWatcher, watchPower } from "../harness/power_watcher.ts";
import { printDiagnostics, printTails, tool } from "../harness/process_util.ts";
import {
  bootToGrubMenu,
  buildGrubImage,
  GRUB_MENU_ENTRY,
  type GrubImage,
  missingGrubTools,
} from "../harness/grub_image.ts";

const MiB = 1024 * 1024;
/** ESP (550) + root_gb 1 (1024) + alignment and backup GPT. */
const DISK_MIB = 1600;
const ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
const BIOS_BOOT_GUID = "21686148-6449-6e6f-744e-656564454649";
const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const missing = cannotRunE2e() ? [] : await missingGrubTools();
if (missing.length > 0) {
  printDiagnostics(`partition image tests skipped: missing ${missing.join(", ")}`);
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

/** A file of an unmounted ext4 partition (debugfs reads it; nothing is mounted). */
function ext4File(partition: string, path: string): Promise<string> {
  return tool("debugfs", ["-R", `cat ${path}`, partition]);
}

interface Deployed {
  dir: string;
  disk: LoopDevice;
  image: GrubImage;
  agentLog: string;
  internal: Record<string, unknown>;
}

/** Deploys a GRUB image (`efi`: with EFI assets) with `capabilities`, then runs `check`. */
async function deploy(
  release: IronicRelease,
  options: { capabilities: string; efi: boolean },
  check: (deployed: Deployed) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "partition-e2e-" });
  try {
    const image = await buildGrubImage(dir, { efi: options.efi });
    await using images = startImageServer({
      "/root.qcow2": { body: { path: image.qcow2 } },
      // Ironic only needs these to exist to treat the image as a partition image.
      "/vmlinuz": { body: "kernel" },
      "/initrd": { body: "ramdisk" },
    });
    await using ironic = await startIronic({
      release,
      httpUrl: images.origin,
      extraConfig: {
        conductor: { automated_clean: false },
        agent: { enable_bios_bootloader_install: true },
      },
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
          capabilities: options.capabilities,
          root_device: { name: disk.path },
        },
        // In the POST: Ironic 29 breaks a node on any PATCH (see the recipe).
        instance_info: {
          image_source: images.url("/root.qcow2"),
          kernel: images.url("/vmlinuz"),
          ramdisk: images.url("/initrd"),
          image_disk_format: "qcow2",
          image_os_hash_algo: "sha256",
          image_os_hash_value: await sha256Hex(await Deno.readFile(image.qcow2)),
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
      assert.equal(internal.is_whole_disk_image, false, "Ironic treated it as a partition image");
      assert.equal(internal.root_uuid_or_disk_id, image.uuid, "Ironic recorded the root UUID");
      const agentLog = await Deno.readTextFile(watching.agents[0]!.logFile);
      await watching.stop();
      const mounts = await Deno.readTextFile("/proc/self/mountinfo");
      assert.doesNotMatch(mounts, /agent-grub-/, "a GRUB mount was left behind");
      await tool("sync", []);
      await tool("blockdev", ["--flushbufs", disk.path]);
      await tool("partprobe", [disk.path]);
      await check({ dir, disk, image, agentLog, internal });
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
}

/** The root partition holds the image, with the GRUB configuration grub-mkconfig wrote. */
async function assertGrubConfig(root: string, image: GrubImage): Promise<string> {
  const fields = blkid(await tool("blkid", ["-p", "-o", "export", root]));
  assert.equal(fields.UUID, image.uuid, "the root partition holds the image");
  assert.equal(await ext4File(root, "/etc/hostname"), "grub-test\n");
  const cfg = await ext4File(root, "/boot/grub/grub.cfg");
  assert.match(cfg, /generated by grub-mkconfig/);
  assert.match(cfg, new RegExp(`menuentry '${GRUB_MENU_ENTRY}'`));
  assert.match(cfg, /terminal_output serial/);
  return await ext4File(root, "/etc/fstab");
}

const releases = e2eReleases();
for (const release of releases) {
  Deno.test({
    name: `${conductorLabel(release)} deploys a UEFI partition image (qcow2) and its GRUB boots`,
    ignore: cannotRunE2e() || missing.length > 0,
    async fn() {
      await deploy(release, { capabilities: "boot_mode:uefi", efi: true }, async (d) => {
        const { label, parts } = await partitions(d.disk);
        assert.equal(label, "gpt");
        assert.deepEqual(
          parts.map((p) => [p.number, p.start / MiB, (p.end + 1) / MiB]),
          [[1, 1, 551], [2, 551, 1575]],
        );
        const esp = blkid(await tool("blkid", ["-p", "-o", "export", `${d.disk.path}p1`]));
        assert.equal(esp.TYPE, "vfat");
        assert.equal(esp.LABEL, "efi-part");
        assert.equal(esp.PART_ENTRY_TYPE, ESP_GUID);
        // The ESP holds the image's loaders, read from the backing file at its offset.
        const espImage = `${d.disk.file}@@${parts[0]!.start}`;
        const mtools = (cmd: string, args: string[]) =>
          new Deno.Command(cmd, {
            args: ["-i", espImage, ...args],
            env: { MTOOLS_SKIP_CHECK: "1" },
            stdout: "piped",
            stderr: "piped",
            signal: AbortSignal.timeout(60_000),
          }).output().then((out) => {
            assert.ok(out.success, new TextDecoder().decode(out.stderr));
            return new TextDecoder().decode(out.stdout);
          });
        const listing = (await mtools("mdir", ["-/", "-b", "::/"])).split("\n").map((l) =>
          l.trim()
        );
        for (
          const file of ["EFI/debian/grubx64.efi", "EFI/debian/grub.cfg", "EFI/BOOT/BOOTX64.EFI"]
        ) {
          assert.ok(listing.includes(`::/${file}`), `ESP lacks ${file}: ${listing.join(" ")}`);
        }
        const stub = await mtools("mtype", ["::/EFI/debian/grub.cfg"]);
        assert.match(stub, new RegExp(`search --no-floppy --fs-uuid --set=root ${d.image.uuid}`));
        // grub-mkconfig ran in the image; the ESP is in its fstab.
        const fstab = await assertGrubConfig(`${d.disk.path}p2`, d.image);
        assert.ok(
          fstab.includes(`UUID=${esp.UUID}\t/boot/efi\tvfat\tumask=0077\t0\t1\n`),
          `fstab lacks the ESP line:\n${fstab}`,
        );
        assert.match(d.agentLog, /GRUB set up from the image's EFI assets/);
        assert.doesNotMatch(d.agentLog, /ignoring boot loader failure/);
        // The deployed disk boots under OVMF: the firmware's removable path finds BOOTX64.EFI.
        const vars = `${d.dir}/OVMF_VARS.fd`;
        await Deno.copyFile(OVMF_VARS, vars);
        const serial = await bootToGrubMenu({
          disk: d.disk.file,
          logFile: `${d.dir}/serial.log`,
          ovmf: { code: OVMF_CODE, vars },
          timeoutMs: 120_000,
        });
        assert.match(serial, /GNU GRUB/);
      });
    },
  });

  // msdos on the first conductor, GPT with a BIOS boot partition on the second.
  const gpt = release !== releases[0];
  Deno.test({
    name: `${conductorLabel(release)} deploys a BIOS partition image (${
      gpt ? "GPT" : "msdos"
    }) and its GRUB boots`,
    ignore: cannotRunE2e() || missing.length > 0,
    async fn() {
      const capabilities = gpt ? "boot_mode:bios,disk_label:gpt" : "boot_mode:bios";
      await deploy(release, { capabilities, efi: false }, async (d) => {
        const { label, parts } = await partitions(d.disk);
        assert.equal(label, gpt ? "gpt" : "msdos");
        const root = `${d.disk.path}p${parts.at(-1)!.number}`;
        if (gpt) {
          assert.deepEqual(parts.map((p) => [p.number, p.start / MiB, (p.end + 1) / MiB]), [
            [1, 1, 2],
            [2, 2, 1026],
          ]);
          const biosBoot = blkid(await tool("blkid", ["-p", "-o", "export", `${d.disk.path}p1`]));
          assert.equal(biosBoot.PART_ENTRY_TYPE, BIOS_BOOT_GUID);
        } else {
          assert.deepEqual(parts.map((p) => [p.number, p.start / MiB, p.flags]), [[1, 1, "boot"]]);
        }
        // GRUB's boot.img in the MBR: its "GRUB " marker and the boot signature.
        const mbr = await readBacking(d.disk, 0, 512);
        assert.ok(new TextDecoder("latin1").decode(mbr.subarray(0, 440)).includes("GRUB "));
        assert.deepEqual([mbr[510], mbr[511]], [0x55, 0xaa]);
        const fstab = await assertGrubConfig(root, d.image);
        assert.doesNotMatch(fstab, /\/boot\/efi/, "no ESP in a BIOS image's fstab");
        assert.match(d.agentLog, /GRUB installed/);
        const serial = await bootToGrubMenu({
          disk: d.disk.file,
          logFile: `${d.dir}/serial.log`,
        });
        assert.match(serial, /GNU GRUB/);
      });
    },
  });
}
