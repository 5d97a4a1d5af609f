import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { deflateRawSync } from "node:zlib";
import { ImageWriteError, InvalidImage } from "../api/errors.ts";
import { MemorySink } from "./byte_sink.ts";
import { compressedSpan } from "./qcow2_compressed.ts";
import { Qcow2StreamDecoder } from "./qcow2_stream.ts";
import { imageDir, mixedContent, sparseContent } from "./_test_images.ts";

/** Feeds `bytes` to `decoder` in chunks of `size` (odd sizes cross every boundary). */
async function feed(decoder: Qcow2StreamDecoder, bytes: Uint8Array, size: number) {
  for (let offset = 0; offset < bytes.length; offset += size) {
    await decoder.write(bytes.subarray(offset, offset + size));
  }
  await decoder.close();
}

Deno.test("Qcow2StreamDecoder decodes qemu-img output to the raw content", async (t) => {
  await using dir = await imageDir();
  // 512-byte clusters: each L2 table maps 32 KiB, so the image has many tables and holes.
  const raw = sparseContent(586 * 512, { start: 70_000, length: 90_000 });
  await Deno.writeFile(dir.path("disk.raw"), raw);
  for (const cluster of ["512", "65536"]) {
    await t.step(`cluster_size=${cluster}`, async () => {
      await dir.toQcow2("disk.raw", `disk-${cluster}.qcow2`, {
        options: `cluster_size=${cluster}`,
      });
      const qcow2 = await dir.read(`disk-${cluster}.qcow2`);
      for (const chunk of [1000, 7919, 1 << 20]) {
        const out = new MemorySink();
        const decoder = new Qcow2StreamDecoder(out, { imageId: "disk.qcow2" });
        await feed(decoder, qcow2, chunk);
        assert.equal(decoder.virtualSize, raw.length);
        assert.ok(out.closed);
        const got = out.bytes();
        assert.equal(got.length, raw.length);
        assert.ok(got.every((b, i) => b === raw[i]), `content differs (chunk ${chunk})`);
      }
    });
  }
});

Deno.test("Qcow2StreamDecoder refuses a truncated image", async () => {
  await using dir = await imageDir();
  await Deno.writeFile(dir.path("sevens.raw"), new Uint8Array(1 << 20).fill(7));
  await dir.toQcow2("sevens.raw", "u.qcow2");
  const whole = await dir.read("u.qcow2");
  await assert.rejects(
    () =>
      feed(
        new Qcow2StreamDecoder(new MemorySink(), { imageId: "u" }),
        whole.subarray(0, whole.length - 70000),
        65536,
      ),
    (err) => err instanceof InvalidImage && /ended at byte/.test(err.details),
  );
});

/** What a qemu-img image's layout asks of the stream reader (read with random access). */
interface Layout {
  compressed: number;
  uncompressed: number;
  /** Compressed clusters stored before the L2 table that maps them, and the largest distance. */
  beforeTable: number;
  farthestBeforeTable: number;
  /** Clusters stored before one of a lower guest offset. */
  outOfGuestOrder: number;
  /** Compressed clusters that start in the last sector of the previous one. */
  sharedSector: number;
}

function layoutOf(image: Uint8Array): Layout {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const bits = view.getUint32(20);
  const l1 = Number(view.getBigUint64(40));
  const layout = {
    compressed: 0,
    uncompressed: 0,
    beforeTable: 0,
    farthestBeforeTable: 0,
    outOfGuestOrder: 0,
    sharedSector: 0,
  };
  let lastStart = 0;
  let lastEnd = 0;
  for (let i = 0; i < view.getUint32(36); i++) {
    const l2 = Number(view.getBigUint64(l1 + 8 * i) & 0x00fffffffffffe00n);
    for (let j = 0; l2 && j < 2 ** bits / 8; j++) {
      const entry = view.getBigUint64(l2 + 8 * j);
      if (entry === 0n) continue;
      const span = entry & (1n << 62n)
        ? compressedSpan(entry, bits)!
        : { start: Number(entry & 0x00fffffffffffe00n), length: 2 ** bits };
      if (entry & (1n << 62n)) {
        layout.compressed++;
        if (span.start < l2) {
          layout.beforeTable++;
          layout.farthestBeforeTable = Math.max(layout.farthestBeforeTable, l2 - span.start);
        }
        if (span.start < lastEnd && span.start > lastStart) layout.sharedSector++;
      } else layout.uncompressed++;
      if (span.start < lastStart) layout.outOfGuestOrder++;
      lastStart = span.start;
      lastEnd = span.start + span.length;
    }
  }
  return layout;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}

Deno.test("Qcow2StreamDecoder decodes qemu-img -c images (deflate and zstd)", async (t) => {
  await using dir = await imageDir();
  // Text (compressed), random (stored uncompressed) and holes, 64 KiB each; not a whole number
  // of clusters, so the last cluster is partial.
  const raw = mixedContent(6 * 1024 * 1024 + 12288);
  await Deno.writeFile(dir.path("disk.raw"), raw);
  for (const type of ["zlib", "zstd"]) {
    for (const cluster of ["512", "4096", "65536", "2M"]) {
      await t.step(`compression_type=${type} cluster_size=${cluster}`, async () => {
        const name = `disk-${type}-${cluster}.qcow2`;
        await dir.toQcow2("disk.raw", name, {
          compressed: true,
          options: `cluster_size=${cluster},compression_type=${type}`,
        });
        const qcow2 = await dir.read(name);
        const layout = layoutOf(qcow2);
        assert.ok(layout.compressed > 0 && layout.sharedSector > 0, JSON.stringify(layout));
        if (cluster === "512" || cluster === "4096") {
          // Small clusters give many L2 tables: the layouts the look-back exists for.
          assert.ok(layout.beforeTable > 0 && layout.outOfGuestOrder > 0, JSON.stringify(layout));
        }
        for (const chunk of [1000, 7919, 1 << 20]) {
          const out = new MemorySink();
          const decoder = new Qcow2StreamDecoder(out, { imageId: name });
          await feed(decoder, qcow2, chunk);
          assert.equal(decoder.virtualSize, raw.length);
          assert.ok(out.closed);
          assert.ok(sameBytes(out.bytes(), raw), `content differs (chunk ${chunk})`);
        }
      });
    }
  }
});

Deno.test("Qcow2StreamDecoder reads compressed clusters left far behind their L2 table", async () => {
  // 4 KiB clusters map 2 MiB per L2 table. Each 2 MiB: 256 KiB of text, then random bytes. qemu
  // stores the random clusters whole, after the partly filled cluster of compressed text, and
  // puts the next range's first compressed clusters in the rest of that cluster: about 1.8 MiB
  // before their L2 table, beyond the 1 MiB window.
  await using dir = await imageDir();
  const raw = new Uint8Array(8 * 1024 * 1024);
  const line = new TextEncoder().encode("range text line ");
  for (let range = 0; range < raw.length; range += 2 << 20) {
    for (let i = 0; i < 256 * 1024; i++) raw[range + i] = line[i % line.length]! ^ (i >> 9 & 0xff);
    for (let at = range + 256 * 1024; at < range + (2 << 20); at += 65536) {
      crypto.getRandomValues(raw.subarray(at, at + 65536));
    }
  }
  await Deno.writeFile(dir.path("disk.raw"), raw);
  await dir.toQcow2("disk.raw", "disk.qcow2", { compressed: true, options: "cluster_size=4096" });
  const qcow2 = await dir.read("disk.qcow2");
  const layout = layoutOf(qcow2);
  assert.ok(layout.farthestBeforeTable > 1024 * 1024, JSON.stringify(layout));
  const out = new MemorySink();
  await feed(new Qcow2StreamDecoder(out, { imageId: "far" }), qcow2, 1 << 20);
  assert.ok(sameBytes(out.bytes(), raw), "content differs");
});

/** Offset of the first compressed cluster's data in a qemu-img image. */
function firstCompressed(image: Uint8Array): number {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const l2 = Number(view.getBigUint64(Number(view.getBigUint64(40))) & 0x00fffffffffffe00n);
  for (let j = 0;; j++) {
    const entry = view.getBigUint64(l2 + 8 * j);
    if (entry & (1n << 62n)) return compressedSpan(entry, view.getUint32(20))!.start;
  }
}

Deno.test("Qcow2StreamDecoder fails with ImageWriteError on a corrupt compressed cluster", async (t) => {
  await using dir = await imageDir();
  await Deno.writeFile(dir.path("disk.raw"), mixedContent(1024 * 1024));
  for (const type of ["zlib", "zstd"]) {
    await t.step(type, async () => {
      await dir.toQcow2("disk.raw", `${type}.qcow2`, {
        compressed: true,
        options: `compression_type=${type}`,
      });
      const image = await dir.read(`${type}.qcow2`);
      const at = firstCompressed(image);
      // deflate: a final block of the reserved type 3; zstd: no frame magic.
      image[at] = 0x07;
      const out = new MemorySink();
      await assert.rejects(
        () => feed(new Qcow2StreamDecoder(out, { imageId: "bad" }), image, 65536),
        (err) => {
          assert.ok(err instanceof ImageWriteError, `expected ImageWriteError, got ${err}`);
          assert.match(
            err.details,
            new RegExp(
              `image bad failed: the (deflate|zstd)-compressed cluster for guest ` +
                `offset 0 at host offset ${at} is corrupt: it does not decompress`,
            ),
          );
          return true;
        },
      );
      assert.equal(out.closed, false);
    });
  }
});

Deno.test("Qcow2StreamDecoder refuses headers it cannot decode", async (t) => {
  await using dir = await imageDir();
  await Deno.writeFile(dir.path("disk.raw"), mixedContent(256 * 1024));
  await dir.toQcow2("disk.raw", "zlib.qcow2", { compressed: true });
  await dir.toQcow2("disk.raw", "zstd.qcow2", {
    compressed: true,
    options: "compression_type=zstd",
  });
  const cases: [string, string, (view: DataView) => void, RegExp][] = [
    [
      "zstd bit without the type",
      "zlib",
      (v) => v.setBigUint64(72, 0x8n),
      /type 0 with the compression-type feature bit set/,
    ],
    [
      "zstd type without the bit",
      "zstd",
      (v) => v.setBigUint64(72, 0n),
      /type 1 with the compression-type feature bit clear/,
    ],
    ["unknown compression type", "zstd", (v) => v.setUint8(104, 2), /compression type 2/],
    ["extended L2 entries", "zlib", (v) => v.setBigUint64(72, 0x10n), /incompatible features 0x10/],
    ["external data file", "zlib", (v) => v.setBigUint64(72, 0x4n), /external data file/],
    ["encryption", "zlib", (v) => v.setUint32(32, 2), /encrypted \(crypt method 2\)/],
    ["backing file", "zlib", (v) => v.setBigUint64(8, 0x200n), /backing file/],
  ];
  for (const [name, base, patch, message] of cases) {
    await t.step(name, async () => {
      const image = await dir.read(`${base}.qcow2`);
      patch(new DataView(image.buffer));
      const out = new MemorySink();
      await assert.rejects(
        () => feed(new Qcow2StreamDecoder(out, { imageId: name }), image, 4096),
        (err) => err instanceof InvalidImage && message.test(err.details),
      );
      assert.equal(out.bytes().length, 0);
    });
  }
});

/**
 * A hand-laid qcow2 v3 image (the decoder reads no refcounts): header, L1 table in cluster 1,
 * one L2 table at `l2`, and `clusters` (guest cluster index → host offset and stored bytes).
 */
function handLaid(options: {
  clusterBits: number;
  l2: number;
  clusters: { index: number; host: number; bytes: Uint8Array; compressed: boolean }[];
}): Uint8Array {
  const size = 2 ** options.clusterBits;
  const end = Math.max(
    options.l2 + size,
    ...options.clusters.map((c) => c.host + c.bytes.length),
  );
  const image = new Uint8Array(Math.ceil(end / 512) * 512 + 512);
  const view = new DataView(image.buffer);
  image.set([0x51, 0x46, 0x49, 0xfb]);
  view.setUint32(4, 3);
  view.setUint32(20, options.clusterBits);
  const last = Math.max(...options.clusters.map((c) => c.index));
  view.setBigUint64(24, BigInt((last + 1) * size));
  view.setUint32(36, 1);
  view.setBigUint64(40, BigInt(size));
  view.setUint32(96, 4);
  view.setUint32(100, 112);
  view.setBigUint64(size, BigInt(options.l2));
  const x = BigInt(62 - (options.clusterBits - 8));
  for (const cluster of options.clusters) {
    image.set(cluster.bytes, cluster.host);
    const sectors = Math.ceil(((cluster.host % 512) + cluster.bytes.length) / 512) - 1;
    const entry = cluster.compressed
      ? (1n << 62n) | (BigInt(sectors) << x) | BigInt(cluster.host)
      : BigInt(cluster.host);
    view.setBigUint64(options.l2 + 8 * cluster.index, entry);
  }
  return image;
}

function randomCluster(size: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(size));
}

Deno.test("Qcow2StreamDecoder decodes a hand-laid compressed image and bounds what it holds", async (t) => {
  const text = new TextEncoder().encode("cluster ".repeat(8192)).subarray(0, 65536);
  await t.step("compressed cluster just before its table, uncompressed one after it", async () => {
    const plain = randomCluster(65536);
    const packed = deflateRawSync(text);
    const image = handLaid({
      clusterBits: 16,
      l2: 3 * 65536,
      clusters: [
        { index: 1, host: 2 * 65536 + 1000, bytes: packed, compressed: true },
        { index: 0, host: 4 * 65536, bytes: plain, compressed: false },
      ],
    });
    const out = new MemorySink();
    await feed(new Qcow2StreamDecoder(out, { imageId: "hand" }), image, 4096);
    const got = out.bytes();
    assert.ok(sameBytes(got.subarray(0, 65536), plain), "guest cluster 0 differs");
    assert.ok(sameBytes(got.subarray(65536, 2 * 65536), text), "guest cluster 1 differs");
  });
  await t.step("compressed cluster too far before its table", async () => {
    const image = handLaid({
      clusterBits: 16,
      l2: 64 * 65536,
      clusters: [{ index: 0, host: 2 * 65536, bytes: deflateRawSync(text), compressed: true }],
    });
    await assert.rejects(
      () => feed(new Qcow2StreamDecoder(new MemorySink(), { imageId: "far" }), image, 65536),
      (err) =>
        err instanceof InvalidImage &&
        /has its compressed at host offset 131072, behind byte \d+ already read/.test(err.details),
    );
  });
  await t.step("more compressed bytes waiting than the limit", async () => {
    // 20 incompressible clusters (each ~64 KiB deflated) before guest cluster 0.
    const clusters = Array.from({ length: 20 }, (_, i) => ({
      index: i + 1,
      host: (3 + 2 * i) * 65536,
      bytes: deflateRawSync(randomCluster(65536)),
      compressed: true,
    }));
    const image = handLaid({
      clusterBits: 16,
      l2: 2 * 65536,
      clusters: [...clusters, {
        index: 0,
        host: 50 * 65536,
        bytes: randomCluster(65536),
        compressed: false,
      }],
    });
    const out = new MemorySink();
    await assert.rejects(
      () => feed(new Qcow2StreamDecoder(out, { imageId: "wait" }), image, 65536),
      (err) =>
        err instanceof InvalidImage &&
        /compressed clusters waiting for guest offset 0 at host offset 3276800, more than the 1048576-byte limit/
          .test(err.details),
    );
    assert.equal(out.bytes().length, 0);
  });
});
