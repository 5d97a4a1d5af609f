/**
 * Integration: the config drive of a whole-disk image on loop devices with 512-byte and 4K
 * sectors, GPT and MBR (including a sparse disk over 2 TiB), built with the real tools; the
 * result is read back with blkid, parted and mtools.
 */
import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice } from "../../tests/harness/loop.ts";
import { tool } from "../../tests/harness/process_util.ts";
import { imageDir } from "./_test_images.ts";
import { parseBlkidExport, prepareConfigDrivePartition } from "./config_drive_partition.ts";
import { writeConfigDrive } from "./config_drive_write.ts";
import { parsePartedMachine } from "./partition_table.ts";

const log = new Logger({ test: "config_drive_loop" });
const META = '{"uuid": "0e4b6bde-2f57-4b47-b3f8-94ff37d3a2b6"}';

/** A config-drive ISO as Nova builds it (label config-2, Rock Ridge + Joliet). */
async function buildIso(): Promise<Uint8Array> {
  await using dir = await imageDir();
  await Deno.mkdir(dir.path("cd/openstack/latest"), { recursive: true });
  await Deno.writeTextFile(dir.path("cd/openstack/latest/meta_data.json"), META);
  await dir.tool("genisoimage", ["-quiet", "-o", "cd.iso", "-V", "config-2", "-r", "-J", "cd"]);
  return await dir.read("cd.iso");
}

/** Partitions the loop device like a whole-disk image: one small partition at the start. */
async function writeDiskImage(disk: LoopDevice, label: "gpt" | "msdos"): Promise<void> {
  await tool("parted", ["-s", disk.path, "mklabel", label, "mkpart", "primary", "1MiB", "9MiB"]);
  await tool("partprobe", [disk.path]);
}

async function table(disk: LoopDevice) {
  const parted = await tool("parted", ["-s", "-m", disk.path, "unit", "B", "print"]);
  return parted.trim().split("\n").slice(2).map((line) => {
    const [number, start, end] = line.split(":");
    return { number: Number(number), start: parseInt(start!), end: parseInt(end!) };
  });
}

async function probe(partition: string) {
  return parseBlkidExport(await tool("blkid", ["-p", "-o", "export", partition]));
}

async function deployConfigDrive(disk: LoopDevice, iso: Uint8Array, rebuild = false) {
  const partition = await prepareConfigDrivePartition(systemRunner, disk.path, { log });
  const result = await writeConfigDrive(systemRunner, partition, iso, { log, rebuild });
  return { partition, result };
}

Deno.test("config drive on a 512-byte-sector GPT disk: ISO copied into the last 64 MiB", async () => {
  const iso = await buildIso();
  await using disk = await createLoopDevice({ sizeMiB: 128 });
  await writeDiskImage(disk, "gpt");
  const { partition, result } = await deployConfigDrive(disk, iso);
  assert.equal(partition, `${disk.path}p2`);
  assert.deepEqual(result, { method: "copied", label: "config-2", fsType: "iso9660" });
  const parts = await table(disk);
  assert.equal(parts.length, 2);
  // sgdisk measures 64 MiB back from the end of the free space (before the backup GPT) and
  // aligns the start down to 1 MiB.
  assert.ok(parts[1]!.start >= disk.sizeBytes - 65 * 1048576, `starts at ${parts[1]!.start}`);
  assert.ok(parts[1]!.end >= disk.sizeBytes - 1048576, `ends at ${parts[1]!.end}`);
  const fields = await probe(partition);
  assert.equal(fields.LABEL, "config-2");
  assert.equal(fields.TYPE, "iso9660");

  // A second deploy reuses the partition instead of adding one.
  const again = await deployConfigDrive(disk, iso);
  assert.equal(again.partition, partition);
  assert.equal((await table(disk)).length, 2);
});

Deno.test("config drive on a 4K-sector GPT disk: rebuilt as vfat CONFIG-2 with the files", async () => {
  const iso = await buildIso();
  await using disk = await createLoopDevice({ sizeMiB: 128, sectorSize: 4096 });
  await writeDiskImage(disk, "gpt");
  const { partition, result } = await deployConfigDrive(disk, iso);
  assert.equal(partition, `${disk.path}p2`);
  assert.deepEqual(result, { method: "rebuilt", label: "CONFIG-2", fsType: "vfat" });
  const fields = await probe(partition);
  assert.equal(fields.LABEL, "CONFIG-2");
  assert.equal(fields.TYPE, "vfat");
  const meta = await new Deno.Command("mtype", {
    args: ["-i", partition, "::/openstack/latest/meta_data.json"],
    env: { MTOOLS_SKIP_CHECK: "1" },
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(meta.stdout), META);
});

Deno.test("config drive on an MBR disk, and config_drive_rebuild on 512-byte sectors", async () => {
  const iso = await buildIso();
  await using disk = await createLoopDevice({ sizeMiB: 128 });
  await writeDiskImage(disk, "msdos");
  const { partition, result } = await deployConfigDrive(disk, iso, true);
  assert.equal(partition, `${disk.path}p2`);
  assert.deepEqual(result, { method: "rebuilt", label: "CONFIG-2", fsType: "vfat" });
  const parts = await table(disk);
  assert.equal(parts.length, 2);
  assert.ok(parts[1]!.start >= disk.sizeBytes - 64 * 1048576, `starts at ${parts[1]!.start}`);
});

Deno.test("config drive on an MBR disk over 2 TiB uses IPA's fixed bounds", async () => {
  const iso = await buildIso();
  // Sparse: only the partition tables and the ISO take space.
  await using disk = await createLoopDevice({ sizeMiB: 2200 * 1024 });
  await writeDiskImage(disk, "msdos");
  const { partition, result } = await deployConfigDrive(disk, iso);
  assert.equal(result.label, "config-2");
  const parts = await table(disk);
  assert.equal(parts.length, 2);
  // parted reads 2097087 and 2097151 as MB (10^6 bytes) and aligns the start to 1 MiB.
  assert.ok(Math.abs(parts[1]!.start - 2097087e6) < 1048576, `starts at ${parts[1]!.start}`);
  assert.ok(Math.abs(parts[1]!.end - 2097151e6) < 1048576, `ends at ${parts[1]!.end}`);
  assert.equal((await probe(partition)).TYPE, "iso9660");
});

Deno.test("prepareConfigDrivePartition() refuses a disk with two config-2 partitions", async () => {
  const iso = await buildIso();
  await using disk = await createLoopDevice({ sizeMiB: 32 });
  await tool("parted", [
    "-s",
    disk.path,
    "mklabel",
    "gpt",
    "mkpart",
    "a",
    "1MiB",
    "9MiB",
    "mkpart",
    "b",
    "9MiB",
    "17MiB",
  ]);
  await tool("partprobe", [disk.path]);
  for (const n of [1, 2]) {
    const file = await Deno.makeTempFile();
    try {
      await Deno.writeFile(file, iso);
      await tool("dd", [`if=${file}`, `of=${disk.path}p${n}`, "status=none", "conv=fsync"]);
    } finally {
      await Deno.remove(file);
    }
  }
  const before = parsePartedMachine(await tool("parted", ["-s", "-m", disk.path, "print"]));
  await assert.rejects(
    () => prepareConfigDrivePartition(systemRunner, disk.path, { log }),
    /more than one partition is labelled config-2/,
  );
  const after = parsePartedMachine(await tool("parted", ["-s", "-m", disk.path, "print"]));
  assert.deepEqual(after, before);
});
