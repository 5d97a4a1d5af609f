/**
 * `raid.create_configuration` driven by a real Ironic 21.4 (issue 6 acceptance, spec 12 §3,
 * spec 11 §6): a `fake-hardware` node with `raid_interface=agent` (21.4 accepts it) and a
 * `target_raid_config` of one software RAID 1 over both disks is cleaned manually with
 * `{"interface": "raid", "step": "create_configuration"}`. The machine is the ramdisk in qemu,
 * booted and stopped by the power watcher as the conductor powers it. Checked after the clean:
 * the `raid_config` Ironic stored from the agent's step result, and on the host, read-only, the
 * md superblock on each disk file's RAID partition (`mdadm --examine`). Then the node is
 * provided (automated cleaning keeps the array) and deployed: the agent picks the RAID 1 root as
 * install device and the raw image lands on both mirrors (read back from the disk files).
 *
 *   IPA_RAMDISK_OUT=... deno test -A --no-prompt tests/e2e/raid_ironic_vm_test.ts
 */
import assert from "node:assert/strict";
import { cannotRunE2e, firstDifference } from "../harness/flow_fixtures.ts";
import { watchPower } from "../harness/power_watcher.ts";
import { printDiagnostics, printTails, tool } from "../harness/process_util.ts";
import {
  createDiskFiles,
  ensureRamdisk,
  HOST_FROM_GUEST,
  qemuInstalled,
  VM_MAC,
  type VmProcess,
  vmStarter,
} from "../harness/vm.ts";
import { startVmIronic } from "../harness/vm_flow.ts";

const ARTIFACTS = decodeURIComponent(new URL("../.out/", import.meta.url).pathname);
const TRANSITION_BOUND_MS = 420_000;

/**
 * `mdadm --examine` of partition 1 of a disk file, through a read-only loop device over the
 * partition's extent (from `sfdisk --json`, which reads MBR and GPT alike).
 */
async function examineFirstPartition(file: string): Promise<string> {
  const json = await tool("sfdisk", ["--json", file]);
  const table = JSON.parse(json).partitiontable as {
    sectorsize?: number;
    partitions: { start: number; size: number }[];
  };
  const part = table.partitions[0];
  assert.ok(part, `${file} has no partition: ${json}`);
  const sector = table.sectorsize ?? 512;
  const dev = await tool("losetup", [
    "--read-only",
    "--offset",
    String(part.start * sector),
    "--sizelimit",
    String(part.size * sector),
    "--find",
    "--show",
    file,
  ]);
  const loop = dev.trim();
  try {
    return await tool("mdadm", ["--examine", loop]);
  } finally {
    await tool("losetup", ["--detach", loop]);
  }
}

Deno.test({
  name: "[Ironic 21.4] manual clean raid.create_configuration builds the node's software RAID",
  ignore: cannotRunE2e() || !(await qemuInstalled()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ramdisk = await ensureRamdisk();
    const dir = await Deno.makeTempDir({ prefix: "ipa-raid-ironic-" });
    const logDir = `${dir}/logs`;
    await Deno.mkdir(logDir);
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await using stack = new AsyncDisposableStack();
    stack.defer(async () => {
      for await (const entry of Deno.readDir(logDir)) {
        const boot = /^agent-(\d+)\.log$/.exec(entry.name)?.[1];
        if (boot) {
          await Deno.copyFile(
            `${logDir}/${entry.name}`,
            `${ARTIFACTS}raid_ironic_vm_boot${boot}_serial.log`,
          );
        }
      }
      await Deno.remove(dir, { recursive: true });
    });
    const { image, digest, images, ironic } = await startVmIronic(stack, dir, {
      DEFAULT: { enabled_raid_interfaces: "agent,no-raid" },
    });
    const client = ironic.client;
    // 5 GiB each: the RAID 1 root (~5 GiB) is the smallest device of at least 4 GiB, the one
    // install-device selection picks after a reboot (the array is then /dev/md127).
    const disks = await createDiskFiles(dir, 2, 5);
    const node = await client.createNode(
      {
        name: `raid-${crypto.randomUUID().slice(0, 8)}`,
        driver: "fake-hardware",
        deploy_interface: "direct",
        raid_interface: "agent",
        // BIOS, stated: create_configuration then writes msdos holders, and install_bootloader
        // has nothing to do for a whole-disk image (Ironic 21.4 defaults to uefi).
        properties: {
          cpus: 2,
          memory_mb: 1536,
          local_gb: 5,
          cpu_arch: "x86_64",
          capabilities: "boot_mode:bios",
        },
        driver_info: {
          image_http_proxy: `http://${HOST_FROM_GUEST}:${new URL(images.origin).port}`,
        },
        instance_info: {
          image_source: images.url("/disk.img"),
          image_os_hash_algo: "sha256",
          image_os_hash_value: digest,
          root_gb: 1,
        },
      } as Parameters<typeof client.createNode>[0],
    );
    await client.createPort(node.uuid, VM_MAC);
    const target = {
      logical_disks: [{
        size_gb: "MAX",
        raid_level: "1",
        controller: "software",
        volume_name: "root",
        is_root_volume: true,
      }],
    };
    await client.request("PUT", `/v1/nodes/${node.uuid}/states/raid`, target);

    const vms: VmProcess[] = [];
    const watcher = stack.use(watchPower(client, node.uuid, {
      agent: { apiUrl: `http://${HOST_FROM_GUEST}:${ironic.port}`, blockDevices: disks },
      logDir,
      maxBoots: 4,
      maxDurationMs: 30 * 60_000,
      start: vmStarter({
        ...ramdisk,
        disks,
        params: { "ipa-advertise-host": "127.0.0.1", "ipa-debug": "1" },
      }, vms),
    }));
    const wait = (state: string) =>
      client.waitForProvisionState(node.uuid, state, {
        timeoutMs: TRANSITION_BOUND_MS,
        signal: watcher.signal,
      });
    let ok = false;
    try {
      await client.setProvisionState(node.uuid, "manage");
      await wait("manageable");
      const started = Date.now();
      await client.setProvisionState(node.uuid, "clean", {
        cleanSteps: [{ interface: "raid", step: "create_configuration" }],
      });
      const cleaned = await wait("manageable");
      const cleanS = (Date.now() - started) / 1000;
      await watcher.settled();
      assert.equal(cleaned.last_error, null);

      // The conductor stored the agent's result (spec 11 §6): the configuration as given.
      const stored = (await client.getNode(node.uuid)) as unknown as Record<string, unknown>;
      const raidConfig = stored.raid_config as { logical_disks?: unknown[] };
      assert.deepEqual(raidConfig.logical_disks, target.logical_disks, JSON.stringify(stored));
      assert.equal(vms.length, 1, `one boot for the clean:\n${watcher.events.join("\n")}`);
      assert.equal(watcher.current, null, "the conductor powered the VM off");

      // Both disks carry a member of the RAID 1 "root" (host-side, read-only).
      for (const disk of disks) {
        const examine = await examineFirstPartition(disk);
        assert.match(examine, /^\s*Raid Level : raid1$/m, `${disk}:\n${examine}`);
        assert.match(examine, /^\s*Name : \S*:root\b/m, `${disk}:\n${examine}`);
        assert.match(examine, /^\s*Raid Devices : 2$/m, `${disk}:\n${examine}`);
      }
      printDiagnostics(
        `raid Ironic VM (${vms[0]!.accel}): manual clean create_configuration ${
          cleanS.toFixed(0)
        } s; raid_config ${JSON.stringify(raidConfig)}`,
      );
      // Then a whole-disk deployment: after automated cleaning (which keeps the array: its
      // members are RAID members, the array is only wiped) the deploy boot picks the md root.
      const deployStart = Date.now();
      await client.setProvisionState(node.uuid, "provide");
      await wait("available");
      await client.setProvisionState(node.uuid, "active");
      const active = await wait("active");
      const deployS = (Date.now() - deployStart) / 1000;
      await watcher.settled();
      assert.equal(active.last_error, null);
      const deploySerial = await Deno.readTextFile(watcher.agents.at(-1)!.logFile);
      const installedOn = /Image written to device .*? device=(\/dev\/\S+)/.exec(deploySerial)?.[1];
      assert.match(installedOn ?? "", /^\/dev\/md\d+$/, "the image went onto the RAID root");
      // On each holder the array's data starts at partition 1 + the md data offset.
      for (const disk of disks) {
        const json = await tool("sfdisk", ["--json", disk]);
        const start = JSON.parse(json).partitiontable.partitions[0].start as number;
        const examine = await examineFirstPartition(disk);
        const offset = Number(/Data Offset : (\d+) sectors/.exec(examine)?.[1]);
        using file = await Deno.open(disk, { read: true });
        await file.seek((start + offset) * 512, Deno.SeekMode.Start);
        const head = new Uint8Array(image.length);
        let read = 0;
        while (read < head.length) {
          const n = await file.read(head.subarray(read));
          if (n === null) break;
          read += n;
        }
        assert.equal(firstDifference(head, image), -1, `${disk}: the mirror holds the image`);
      }
      printDiagnostics(
        `raid Ironic VM: provide + deploy onto ${installedOn} ${deployS.toFixed(0)} s ` +
          `(${vms.length} boots)`,
      );
      ok = true;
    } finally {
      if (!ok) {
        printDiagnostics(`===== power watcher events =====\n${watcher.events.join("\n")}`);
        const last = watcher.agents.at(-1);
        if (last) await printTails([{ label: "VM serial (last boot)", path: last.logFile }], 120);
        await printTails([{ label: "ironic", path: ironic.logFile }], 80);
      }
    }
  },
});
