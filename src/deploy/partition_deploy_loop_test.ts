/**
 * Integration: partition images (spec 08 §7) deployed by the image deployer onto loop devices,
 * streamed from a local image server, for BIOS/msdos (raw root image, ephemeral, swap, config
 * drive) and UEFI/gpt (qcow2 root image, ESP). The test reads the device back with parted,
 * blkid and the backing file.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { defaultConfig } from "../config.ts";
import type { Node } from "../hardware/manager.ts";
import { imageDir } from "../image/_test_images.ts";
import { parseBlkidExport } from "../image/config_drive_partition.ts";
import { Logger } from "../log.ts";
import { systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice, readBacking } from "../../tests/harness/loop.ts";
import { startImageServer } from "../../tests/harness/image_server.ts";
import { tool } from "../../tests/harness/process_util.ts";
import { createImageDeployer } from "./image_deployer.ts";
import { installDeviceDispatcher } from "./_test_dispatcher.ts";

const log = new Logger({ test: "partition_deploy_loop" });
const MIB = 1024 * 1024;
const ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";

/** A root filesystem image: ext4 with a file in it, plus its qcow2 conversion. */
async function buildRootImage(dir: Awaited<ReturnType<typeof imageDir>>, sizeMiB: number) {
  await Deno.mkdir(dir.path("rootfs/etc"), { recursive: true });
  await Deno.writeTextFile(dir.path("rootfs/etc/hostname"), "partition-image\n");
  await dir.tool("mkfs.ext4", [
    "-q",
    "-F",
    "-L",
    "img-root",
    "-d",
    "rootfs",
    "root.img",
    `${sizeMiB}M`,
  ]);
  await dir.toQcow2("root.img", "root.qcow2");
  const raw = await dir.read("root.img");
  const uuid = parseBlkidExport(await tool("blkid", ["-p", "-o", "export", dir.path("root.img")]))
    .UUID;
  assert.ok(uuid, "the test root image has a filesystem UUID");
  return { raw, qcow2: await dir.read("root.qcow2"), uuid };
}

/** A gzip+base64 config drive (an ISO labelled config-2), as the conductor sends it. */
async function buildConfigDrive(dir: Awaited<ReturnType<typeof imageDir>>): Promise<string> {
  await Deno.mkdir(dir.path("cd/openstack/latest"), { recursive: true });
  await Deno.writeTextFile(dir.path("cd/openstack/latest/meta_data.json"), '{"uuid": "x"}');
  await dir.tool("genisoimage", ["-quiet", "-o", "cd.iso", "-V", "config-2", "-r", "-J", "cd"]);
  const gz = new Blob([new Uint8Array(await dir.read("cd.iso"))]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return Buffer.from(await new Response(gz).arrayBuffer()).toString("base64");
}

function deployerFor(disk: LoopDevice) {
  const config = { ...defaultConfig(), protectHost: true, onlyBlockDevices: [disk.path] };
  const managers = installDeviceDispatcher(disk.path);
  return createImageDeployer({ runner: systemRunner, config, managers });
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function partedTable(disk: LoopDevice) {
  const out = await tool("parted", ["-s", "-m", disk.path, "unit", "B", "print"]);
  const lines = out.trim().split("\n");
  const label = lines[1]!.split(":")[5];
  const parts = lines.slice(2).map((line) => {
    const [number, start, end, , , , flags] = line.replace(/;$/, "").split(":");
    return { number: Number(number), start: parseInt(start!), end: parseInt(end!), flags };
  });
  return { label, parts };
}

async function probe(partition: string) {
  return parseBlkidExport(await tool("blkid", ["-p", "-o", "export", partition]));
}

async function assertRootHolds(disk: LoopDevice, start: number, image: Uint8Array) {
  const onDisk = await readBacking(disk, start, image.length);
  assert.equal(onDisk.length, image.length);
  assert.ok(onDisk.every((b, i) => b === image[i]), "the root partition holds the image's bytes");
}

function request(node: Node, imageInfo: Record<string, unknown>, configdrive: string | null) {
  return {
    node,
    imageInfo,
    configdrive,
    log,
    signal: new AbortController().signal,
    progress: () => {},
  };
}

Deno.test("prepareImage() partition image, BIOS/msdos: ephemeral, swap, config drive, raw root", async () => {
  await using dir = await imageDir();
  const root = await buildRootImage(dir, 12);
  const configdrive = await buildConfigDrive(dir);
  await using server = startImageServer({ "/root.img": { body: root.raw } });
  await using disk = await createLoopDevice({ sizeMiB: 64 });
  await Deno.writeFile(disk.file, new Uint8Array(disk.sizeBytes).fill(0xa5));
  const deployer = deployerFor(disk);
  const node: Node = { uuid: "n1", properties: { capabilities: "boot_mode:bios" } };
  const info = {
    id: "root.img",
    urls: [server.url("/root.img")],
    disk_format: "raw",
    os_hash_algo: "sha256",
    os_hash_value: sha256(root.raw),
    image_type: "partition",
    root_mb: 16,
    swap_mb: 4,
    ephemeral_mb: 8,
    ephemeral_format: "ext4",
  };
  deployer.validate(info, configdrive);
  const message = await deployer.prepareImage(request(node, info, configdrive));

  const table = await partedTable(disk);
  assert.equal(table.label, "msdos");
  assert.deepEqual(table.parts.map((p) => [p.number, p.start / MIB, (p.end + 1) / MIB]), [
    [1, 1, 9],
    [2, 9, 13],
    [3, 13, 14],
    [4, 14, 30],
  ]);
  assert.match(table.parts[3]!.flags ?? "", /boot/);
  const p = (n: number) => `${disk.path}p${n}`;
  assert.deepEqual(
    [(await probe(p(1))).LABEL, (await probe(p(1))).TYPE],
    ["ephemeral0", "ext4"],
  );
  assert.deepEqual([(await probe(p(2))).LABEL, (await probe(p(2))).TYPE], ["swap1", "swap"]);
  assert.equal((await probe(p(3))).LABEL, "config-2");
  assert.equal((await probe(p(4))).UUID, root.uuid);
  await assertRootHolds(disk, table.parts[3]!.start, root.raw);

  assert.equal(message, `image (root.img) written to device ${disk.path} root_uuid=${root.uuid}`);
  assert.deepEqual(deployer.partitionUuids(), {
    "root uuid": root.uuid,
    "efi system partition uuid": null,
    partitions: { ephemeral: p(1), swap: p(2), configdrive: p(3), root: p(4) },
  });
});

Deno.test("prepareImage() partition image, UEFI/gpt: ESP and a qcow2 root", async () => {
  await using dir = await imageDir();
  const root = await buildRootImage(dir, 10);
  await using server = startImageServer({ "/root.qcow2": { body: root.qcow2 } });
  await using disk = await createLoopDevice({ sizeMiB: 600 });
  const deployer = deployerFor(disk);
  const node: Node = { uuid: "n2", instance_info: { deploy_boot_mode: "uefi" } };
  const info = {
    id: "root.qcow2",
    urls: [server.url("/root.qcow2")],
    disk_format: "qcow2",
    checksum: sha256(root.qcow2),
    image_type: "partition",
    root_mb: "12",
    deploy_boot_mode: "uefi",
  };
  const message = await deployer.prepareImage(request(node, info, null));

  const table = await partedTable(disk);
  assert.equal(table.label, "gpt");
  assert.deepEqual(table.parts.map((p) => [p.number, p.start / MIB, (p.end + 1) / MIB]), [
    [1, 1, 551],
    [2, 551, 563],
  ]);
  const esp = await probe(`${disk.path}p1`);
  assert.equal(esp.TYPE, "vfat");
  assert.equal(esp.LABEL, "efi-part");
  assert.equal(esp.PART_ENTRY_TYPE, ESP_GUID);
  assert.equal((await probe(`${disk.path}p2`)).UUID, root.uuid);
  await assertRootHolds(disk, table.parts[1]!.start, root.raw);
  assert.equal(
    message,
    `image (root.qcow2) written to device ${disk.path} root_uuid=${root.uuid} ` +
      `efi_system_partition_uuid=${esp.UUID}`,
  );
  assert.deepEqual(deployer.partitionUuids(), {
    "root uuid": root.uuid,
    "efi system partition uuid": esp.UUID,
    partitions: { "efi system partition": `${disk.path}p1`, root: `${disk.path}p2` },
  });
});

Deno.test("prepareImage() refuses a partition image larger than root_mb before touching the disk", async () => {
  await using dir = await imageDir();
  const root = await buildRootImage(dir, 12);
  await using server = startImageServer({
    "/root.img": { body: root.raw },
    "/root.qcow2": { body: root.qcow2 },
  });
  await using disk = await createLoopDevice({ sizeMiB: 32 });
  const marker = new Uint8Array(disk.sizeBytes).fill(0xa5);
  await Deno.writeFile(disk.file, marker);
  const deployer = deployerFor(disk);
  for (const [path, bytes] of [["/root.img", root.raw], ["/root.qcow2", root.qcow2]] as const) {
    const info = {
      id: path.slice(1),
      urls: [server.url(path)],
      checksum: sha256(bytes),
      image_type: "partition",
      root_mb: 8,
    };
    await assert.rejects(
      deployer.prepareImage(request({ uuid: "n3" }, info, null)),
      (err: Error) => {
        assert.ok(err instanceof InvalidCommandParamsError, String(err));
        assert.ok(
          err.message.endsWith(
            "Root partition is too small for requested image. Image virtual size: 12 MB, " +
              "Root size: 8 MB",
          ),
          err.message,
        );
        return true;
      },
    );
  }
  const after = await readBacking(disk, 0, disk.sizeBytes);
  assert.ok(after.every((b) => b === 0xa5), "the disk was not touched");
  assert.deepEqual(deployer.partitionUuids(), {});
});
