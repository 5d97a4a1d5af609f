/**
 * Integration tests on real loop devices (root only): the listing, the metadata erasure, the
 * shared-filesystem guard, the skip list and the install-device choice, each fenced in with
 * `onlyBlockDevices` so nothing but the loops created here can ever be listed or written.
 */
import assert from "node:assert/strict";
import { DeviceNotFound, ProtectedDeviceError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { findOsInstallDevice } from "../hints/install_device.ts";
import { listBlockDevices } from "../inventory/block_devices.ts";
import { Logger } from "../log.ts";
import { systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice, readBacking } from "../../tests/harness/loop.ts";
import { eraseDevicesMetadata, type EraseDevicesMetadataOptions } from "./metadata.ts";

const log = new Logger({ test: "loop_integration" });
const VMFS_GUID = "AA31E02A-400F-11DB-9590-000C2911D1B8";

async function hasTool(name: string): Promise<boolean> {
  try {
    await systemRunner.run("sh", ["-c", `command -v ${name}`]);
    return true;
  } catch {
    return false;
  }
}

const canUseLoops = Deno.build.os === "linux" && Deno.uid() === 0 &&
  (await hasTool("losetup")) && (await hasTool("sgdisk")) && (await hasTool("partx"));
const hasVfat = await hasTool("mkfs.vfat");
const hasGfs2 = await hasTool("mkfs.gfs2");

async function run(cmd: string, args: string[], okCodes = [0]) {
  return await systemRunner.run(cmd, args, { okCodes, timeoutMs: 60_000 });
}

/**
 * Makes the kernel see the partitions of a loop device (the harness attaches without
 * partition scanning); removes them again on dispose so the loop detaches cleanly.
 */
async function partitions(loop: LoopDevice): Promise<AsyncDisposable> {
  await run("partx", ["-a", loop.path], [0, 1]);
  for (let i = 0; i < 50 && !(await exists(`${loop.path}p1`)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    async [Symbol.asyncDispose]() {
      await run("partx", ["-d", loop.path], [0, 1]).catch(() => {});
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function sha256(loop: LoopDevice): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(loop.file));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `blkid -p` exit code: 0 when it finds a signature or partition table, 2 when none. */
async function probe(path: string): Promise<{ code: number; stdout: string }> {
  return await run("blkid", ["-p", "-o", "export", path], [0, 2]);
}

function allZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

function eraseOptions(
  onlyBlockDevices: string[],
  extra: Partial<EraseDevicesMetadataOptions> = {},
): EraseDevicesMetadataOptions {
  return {
    runner: systemRunner,
    log,
    node: { uuid: "5d8f4a5e-7a3e-4c7b-9a0c-2f6f8b1e9d01" },
    onlyBlockDevices,
    guardSpecialFilesystems: true,
    busyWait: { attempts: 10, intervalMs: 200 },
    ...extra,
  };
}

/** A 64 MiB loop with a GPT: partition 1 ext4 (20 MiB), partition 2 vfat (or ext4). */
async function gptDisk(loop: LoopDevice, type1 = "8300"): Promise<void> {
  await run("sgdisk", ["-n1:0:+20M", `-t1:${type1}`, "-n2:0:0", "-t2:ef00", loop.path]);
}

async function formatPartitions(loop: LoopDevice): Promise<void> {
  await run("mkfs.ext4", ["-q", "-F", `${loop.path}p2`]);
  if (hasVfat) await run("mkfs.vfat", [`${loop.path}p1`]);
  else await run("mkfs.ext4", ["-q", "-F", `${loop.path}p1`]);
}

const test = { ignore: !canUseLoops, sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "listBlockDevices() with onlyBlockDevices returns exactly the named loop devices",
  ...test,
  async fn() {
    await using a = await createLoopDevice({ sizeMiB: 64 });
    await using b = await createLoopDevice({ sizeMiB: 32, sectorSize: 4096 });
    await gptDisk(a);
    await using _parts = await partitions(a);

    const disks = await listBlockDevices(systemRunner, {
      onlyBlockDevices: [a.path, b.path],
      log,
    });
    const byName = (x: [string, ...unknown[]], y: [string, ...unknown[]]) => x[0] < y[0] ? -1 : 1;
    assert.deepEqual(
      disks.map((d): [string, ...unknown[]] => [d.name, d.type, d.size]).sort(byName),
      [
        [a.path, "loop", 64 * 2 ** 20],
        [b.path, "loop", 32 * 2 ** 20],
      ].sort(byName as never),
    );
    assert.equal(disks.find((d) => d.name === b.path)!.logical_sectors, 4096);

    const withParts = await listBlockDevices(systemRunner, {
      onlyBlockDevices: [a.path, `${a.path}p1`],
      includePartitions: true,
      log,
    });
    assert.deepEqual(withParts.map((d) => d.name), [a.path, `${a.path}p1`]);
    assert.equal(withParts[1]!.type, "part");

    // Without the fence, loop devices are never inventory.
    const all = await listBlockDevices(systemRunner, { onlyBlockDevices: [], log });
    assert.ok(!all.some((d) => d.name.startsWith("/dev/loop")));
  },
});

Deno.test({
  name: "eraseDevicesMetadata() wipes GPT, MBR and signatures of the named loop only",
  ...test,
  async fn() {
    await using disk = await createLoopDevice({ sizeMiB: 64 });
    await using other = await createLoopDevice({ sizeMiB: 16 });
    await gptDisk(disk);
    await using _parts = await partitions(disk);
    await formatPartitions(disk);
    await run("sgdisk", ["-n1:0:0", other.path]);
    await run("mkfs.ext4", ["-q", "-F", other.path]);
    const otherBefore = await sha256(other);
    assert.match((await probe(disk.path)).stdout, /PTTYPE=gpt/);
    assert.match((await probe(`${disk.path}p2`)).stdout, /TYPE=ext4/);

    const named = [disk.path, `${disk.path}p1`, `${disk.path}p2`];
    await eraseDevicesMetadata(eraseOptions(named));

    const size = disk.sizeBytes;
    assert.ok(allZero(await readBacking(disk, 0, 33 * 512)), "MBR and primary GPT zeroed");
    assert.ok(allZero(await readBacking(disk, size - 33 * 512, 33 * 512)), "backup GPT zeroed");
    assert.equal((await probe(disk.path)).code, 2, "no partition table or signature left");
    const table = await run("sgdisk", ["-p", disk.path], [0, 2]);
    assert.doesNotMatch(table.stdout, /^\s+1\s+\d+\s+\d+/m, "sgdisk finds no partition");
    // The filesystems inside the partitions lost their signatures too.
    const ext4Magic = await readBacking(disk, 43008 * 512 + 0x438, 2);
    assert.ok(allZero(ext4Magic), "ext4 magic of partition 2 erased");
    assert.equal((await probe(`${disk.path}p1`)).code, 2);
    assert.equal((await probe(`${disk.path}p2`)).code, 2);

    assert.equal(
      await sha256(other),
      otherBefore,
      "the loop outside onlyBlockDevices is untouched",
    );
  },
});

Deno.test({
  name: "eraseDevicesMetadata() erases only the named disk, not its unnamed partitions",
  ...test,
  async fn() {
    await using disk = await createLoopDevice({ sizeMiB: 64 });
    await gptDisk(disk);
    await using _parts = await partitions(disk);
    await formatPartitions(disk);
    const p2Magic = await readBacking(disk, 43008 * 512 + 0x438, 2);
    assert.deepEqual([...p2Magic], [0x53, 0xef]);

    await eraseDevicesMetadata(eraseOptions([disk.path]));
    assert.equal((await probe(disk.path)).code, 2, "the disk's table is gone");
    assert.deepEqual([...(await readBacking(disk, 43008 * 512 + 0x438, 2))], [0x53, 0xef]);
  },
});

Deno.test({
  name: "eraseDevicesMetadata() wipes both GPT areas of a 4K-sector loop",
  ...test,
  async fn() {
    await using disk = await createLoopDevice({ sizeMiB: 32, sectorSize: 4096 });
    await run("sgdisk", ["-n1:0:0", disk.path]);
    assert.match((await probe(disk.path)).stdout, /PTTYPE=gpt/);
    await eraseDevicesMetadata(eraseOptions([disk.path]));
    assert.ok(allZero(await readBacking(disk, 0, 5 * 4096)));
    assert.ok(allZero(await readBacking(disk, disk.sizeBytes - 5 * 4096, 5 * 4096)));
    assert.equal((await probe(disk.path)).code, 2);
  },
});

Deno.test({
  name: "eraseDevicesMetadata() refuses a VMFS partition and touches no device",
  ...test,
  async fn() {
    await using vmfs = await createLoopDevice({ sizeMiB: 64 });
    await using plain = await createLoopDevice({ sizeMiB: 16 });
    await gptDisk(vmfs, VMFS_GUID);
    await using _parts = await partitions(vmfs);
    await run("mkfs.ext4", ["-q", "-F", plain.path]);
    const before = [await sha256(vmfs), await sha256(plain)];

    // The plain loop sorts after or before the VMFS disk depending on the numbers the
    // kernel hands out; either way it must not be touched.
    const named = [plain.path, vmfs.path, `${vmfs.path}p1`, `${vmfs.path}p2`];
    await assert.rejects(
      eraseDevicesMetadata(eraseOptions(named)),
      (err: unknown) =>
        err instanceof ProtectedDeviceError &&
        err.details.includes("Protected VMware VMFS Partition (GPT) located on device"),
    );
    assert.deepEqual([await sha256(vmfs), await sha256(plain)], before);

    // Only the disk named: the VMFS partition on it still protects it.
    await assert.rejects(eraseDevicesMetadata(eraseOptions([vmfs.path])), ProtectedDeviceError);
    assert.equal(await sha256(vmfs), before[0]);

    // The node may opt out of the guard.
    const node: Node = { uuid: "u", driver_internal_info: { wipe_special_filesystems: false } };
    await eraseDevicesMetadata(eraseOptions(named, { node }));
    assert.equal((await probe(vmfs.path)).code, 2);
  },
});

Deno.test({
  name: "eraseDevicesMetadata() refuses a GFS2 filesystem and touches no device",
  ignore: !canUseLoops || !hasGfs2,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gfs2 = await createLoopDevice({ sizeMiB: 64 });
    await using plain = await createLoopDevice({ sizeMiB: 16 });
    await run("mkfs.gfs2", ["-O", "-p", "lock_nolock", "-j", "1", gfs2.path]);
    await run("mkfs.ext4", ["-q", "-F", plain.path]);
    const before = [await sha256(gfs2), await sha256(plain)];
    await assert.rejects(
      eraseDevicesMetadata(eraseOptions([gfs2.path, plain.path])),
      (err: unknown) =>
        err instanceof ProtectedDeviceError &&
        err.details.includes(
          `Protected Red Hat Global File System 2 located on device ${gfs2.path}`,
        ),
    );
    assert.deepEqual([await sha256(gfs2), await sha256(plain)], before);
  },
});

Deno.test({
  name: "eraseDevicesMetadata() leaves a skip-listed loop and its partitions untouched",
  ...test,
  async fn() {
    await using kept = await createLoopDevice({ sizeMiB: 64 });
    await using wiped = await createLoopDevice({ sizeMiB: 16 });
    await gptDisk(kept);
    await using _parts = await partitions(kept);
    await formatPartitions(kept);
    await run("sgdisk", ["-n1:0:0", wiped.path]);
    const before = await sha256(kept);

    const node: Node = { uuid: "u", properties: { skip_block_devices: [{ name: kept.path }] } };
    const named = [kept.path, `${kept.path}p1`, `${kept.path}p2`, wiped.path];
    await eraseDevicesMetadata(eraseOptions(named, { node }));
    assert.equal(await sha256(kept), before, "skip-listed disk and partitions byte-identical");
    assert.equal((await probe(wiped.path)).code, 2);
  },
});

Deno.test({
  name: "findOsInstallDevice() picks the hinted loop device among two",
  ...test,
  async fn() {
    await using big = await createLoopDevice({ sizeMiB: 6 * 1024 }); // sparse
    await using small = await createLoopDevice({ sizeMiB: 5 * 1024 });
    const only = [big.path, small.path];

    const byName: Node = { uuid: "u", instance_info: { root_device: { name: big.path } } };
    const named = await findOsInstallDevice(systemRunner, {
      log,
      node: byName,
      onlyBlockDevices: only,
    });
    assert.equal(named.name, big.path);

    const bySize: Node = { uuid: "u", properties: { root_device: { size: ">= 6" } } };
    const sized = await findOsInstallDevice(systemRunner, {
      log,
      node: bySize,
      onlyBlockDevices: only,
    });
    assert.equal(sized.name, big.path);

    // No hints: the smallest device of at least 4 GiB.
    const guessed = await findOsInstallDevice(systemRunner, {
      log,
      node: null,
      onlyBlockDevices: only,
    });
    assert.equal(guessed.name, small.path);

    // A skip-listed device is never chosen; nothing else matches.
    const skipped: Node = {
      uuid: "u",
      instance_info: { root_device: { name: big.path } },
      properties: { skip_block_devices: [{ name: big.path }] },
    };
    await assert.rejects(
      findOsInstallDevice(systemRunner, { log, node: skipped, onlyBlockDevices: only }),
      DeviceNotFound,
    );
  },
});
