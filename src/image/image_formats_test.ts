/**
 * Integration: every whole-disk format streamed onto a loop device through the real pipeline
 * (inspection, decoders, dd), images built with the real tools, the device read back; and
 * hostile images refused with nothing written.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ImageWriteError, InvalidImage } from "../api/errors.ts";
import { Logger } from "../log.ts";
import { systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice, readBacking } from "../../tests/harness/loop.ts";
import { startImageServer } from "../../tests/harness/image_server.ts";
import { validateImageInfo } from "./image_info.ts";
import { streamImageToDevice } from "./write_raw.ts";
import { imageDir, mixedContent, sparseContent } from "./_test_images.ts";

const log = new Logger({ test: "image_formats" });
const MARKER = 0xa5;
const DISK_MIB = 8;

async function dirty(disk: LoopDevice): Promise<void> {
  await Deno.writeFile(disk.file, new Uint8Array(disk.sizeBytes).fill(MARKER));
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function deploy(
  disk: LoopDevice,
  url: string,
  served: Uint8Array,
  diskFormat: string | null,
) {
  return await streamImageToDevice({
    imageInfo: validateImageInfo({
      id: "image",
      urls: [url],
      disk_format: diskFormat,
      os_hash_algo: "sha256",
      // The checksum covers the bytes as downloaded (compressed or qcow2).
      os_hash_value: sha256(served),
    }, { md5Enabled: true }),
    device: disk.path,
    runner: systemRunner,
    log,
    options: {
      connectionTimeoutMs: 5_000,
      retries: 0,
      retryIntervalMs: 0,
      md5Enabled: true,
      sleep: () => Promise.resolve(),
    },
    deviceBytes: disk.sizeBytes,
    formats: { permitted: ["raw", "gpt", "qcow2", "iso"], deep: true },
  });
}

async function assertHolds(disk: LoopDevice, expected: Uint8Array): Promise<void> {
  const got = await readBacking(disk, 0, expected.length);
  assert.equal(got.length, expected.length);
  assert.ok(got.every((b, i) => b === expected[i]), "device content differs from the image");
}

async function assertUntouched(disk: LoopDevice): Promise<void> {
  const got = await readBacking(disk, 0, disk.sizeBytes);
  assert.ok(got.every((b) => b === MARKER), "a refused image changed the device");
}

Deno.test("streamImageToDevice() writes qcow2 and compressed images as their raw content", async (t) => {
  await using dir = await imageDir();
  const raw = sparseContent(3 * 1024 * 1024, { start: 1024 * 1024, length: 1024 * 1024 });
  await Deno.writeFile(dir.path("disk.raw"), raw);
  await dir.toQcow2("disk.raw", "disk.qcow2", { options: "cluster_size=4096" });
  await dir.tool("gzip", ["-k", "-1", "disk.raw"]);
  await dir.tool("xz", ["-k", "-0", "-T1", "disk.raw"]);
  await dir.tool("zstd", ["-q", "-1", "disk.raw", "-o", "disk.raw.zst"]);
  await dir.tool("gzip", ["-k", "-1", "disk.qcow2"]);
  await using disk = await createLoopDevice({ sizeMiB: DISK_MIB });
  await using server = startImageServer({});
  const cases: [string, string | null, string, string | null][] = [
    ["disk.qcow2", "qcow2", "qcow2", null],
    ["disk.qcow2", "unknown", "qcow2", null],
    ["disk.raw.gz", "raw", "raw", "gzip"],
    ["disk.raw.xz", "raw", "raw", "xz"],
    ["disk.raw.zst", null, "raw", "zstd"],
    ["disk.qcow2.gz", "qcow2", "qcow2", "gzip"],
  ];
  for (const [name, declared, format, compression] of cases) {
    await t.step(`${name} declared ${declared}`, async () => {
      await dirty(disk);
      const bytes = await dir.read(name);
      server.serve(`/${name}`, { body: { path: dir.path(name) } });
      const result = await deploy(disk, server.url(`/${name}`), bytes, declared);
      assert.equal(result.bytesWritten, bytes.length);
      assert.equal(result.digest, sha256(bytes));
      await assertHolds(disk, raw);
      assert.equal(result.format, format);
      assert.equal(result.compression, compression);
    });
  }
});

Deno.test("streamImageToDevice() writes qemu-img -c qcow2 images (deflate, zstd)", async (t) => {
  await using dir = await imageDir();
  // Text (stored compressed), random (stored whole) and holes; 4 KiB clusters: several L2 tables.
  const raw = mixedContent(3 * 1024 * 1024);
  await Deno.writeFile(dir.path("disk.raw"), raw);
  for (const type of ["zlib", "zstd"]) {
    await dir.toQcow2("disk.raw", `${type}.qcow2`, {
      compressed: true,
      options: `cluster_size=4096,compression_type=${type}`,
    });
  }
  await using disk = await createLoopDevice({ sizeMiB: DISK_MIB });
  await using server = startImageServer({});
  for (const type of ["zlib", "zstd"]) {
    await t.step(`compression_type=${type}`, async () => {
      await dirty(disk);
      const name = `${type}.qcow2`;
      const bytes = await dir.read(name);
      server.serve(`/${name}`, { body: { path: dir.path(name) } });
      const result = await deploy(disk, server.url(`/${name}`), bytes, "qcow2");
      assert.equal(result.format, "qcow2");
      assert.equal(result.digest, sha256(bytes));
      await assertHolds(disk, raw);
      // qemu's own reader agrees, on the image's virtual size of the device.
      await dir.tool("qemu-img", [
        "compare",
        "--image-opts",
        `driver=qcow2,file.filename=${dir.path(name)}`,
        `driver=raw,size=${raw.length},file.filename=${disk.path}`,
      ]);
    });
  }
  await t.step("a corrupt compressed cluster fails the write", async () => {
    await dirty(disk);
    const bytes = await dir.read("zlib.qcow2");
    // The first data cluster of the first L2 table is compressed text: break its deflate stream.
    const view = new DataView(bytes.buffer);
    const l2 = Number(view.getBigUint64(Number(view.getBigUint64(40))) & 0x00fffffffffffe00n);
    const entry = view.getBigUint64(l2);
    assert.ok(entry & (1n << 62n), "guest cluster 0 is compressed");
    const host = Number(entry & ((1n << 58n) - 1n));
    bytes[host] = 0x07;
    server.serve("/corrupt.qcow2", { body: bytes });
    await assert.rejects(
      () => deploy(disk, server.url("/corrupt.qcow2"), bytes, "qcow2"),
      (err) => {
        assert.ok(err instanceof ImageWriteError, `expected ImageWriteError, got ${err}`);
        assert.match(err.details, /deflate-compressed cluster for guest offset 0 .* is corrupt/);
        return true;
      },
    );
  });
});

Deno.test("streamImageToDevice() refuses hostile images before writing anything", async (t) => {
  await using dir = await imageDir();
  await Deno.writeFile(dir.path("data.raw"), new Uint8Array(1 << 20));
  await dir.tool("qemu-img", [
    "create",
    "-f",
    "qcow2",
    "-F",
    "raw",
    "-b",
    "/etc/passwd",
    "backing.qcow2",
    "1M",
  ]);
  await dir.tool("qemu-img", [
    "create",
    "-f",
    "qcow2",
    "-o",
    `data_file=${dir.path("data.raw")}`,
    "datafile.qcow2",
    "1M",
  ]);
  await dir.tool("qemu-img", ["create", "-f", "qcow2", "plain.qcow2", "1M"]);
  await dir.tool("qemu-img", ["create", "-f", "qcow2", "large.qcow2", `${DISK_MIB + 1}M`]);
  await Deno.mkdir(dir.path("iso-root"));
  await Deno.writeTextFile(dir.path("iso-root/meta_data.json"), "{}");
  await dir.tool("genisoimage", ["-quiet", "-o", "image.iso", "-V", "config-2", "-r", "iso-root"]);
  await dir.tool("gzip", ["-k", "plain.qcow2"]);
  await using disk = await createLoopDevice({ sizeMiB: DISK_MIB });
  await using server = startImageServer({});
  const cases: [string, string | null, RegExp][] = [
    ["backing.qcow2", "qcow2", /safety check: qcow2 image has a backing file/],
    ["datafile.qcow2", "qcow2", /safety check: qcow2 image has an external data file/],
    ["plain.qcow2", "raw", /Expected format was raw, but image was actually qcow2/],
    ["image.iso", "qcow2", /Expected format was qcow2, but image was actually iso/],
    ["large.qcow2", "qcow2", /virtual size of 9437184 bytes, larger than the 8388608 bytes/],
    [
      "plain.qcow2.gz",
      "raw",
      /Expected format was raw, but image was actually gzip-compressed qcow2/,
    ],
  ];
  for (const [name, declared, message] of cases) {
    await t.step(`${name} declared ${declared}`, async () => {
      await dirty(disk);
      const bytes = await dir.read(name);
      server.serve(`/${name}`, { body: bytes });
      await assert.rejects(
        () => deploy(disk, server.url(`/${name}`), bytes, declared),
        (err) => {
          assert.ok(err instanceof InvalidImage, `expected InvalidImage, got ${err}`);
          assert.match(err.details, message);
          return true;
        },
      );
      await assertUntouched(disk);
    });
  }
});
