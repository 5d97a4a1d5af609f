import assert from "node:assert/strict";
import { constants, deflateRawSync, zstdCompressSync } from "node:zlib";
import {
  ClusterDecompressor,
  compressedSpan,
  COMPRESSION_DEFLATE,
  COMPRESSION_ZSTD,
  zstdFrameLength,
} from "./qcow2_compressed.ts";
import { concat } from "../system/bytes.ts";

const CLUSTER = 65536;

function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 10)) % 251;
  return bytes;
}

Deno.test("compressedSpan() reads the offset and sector count of the descriptor", async (t) => {
  await t.step("64 KiB clusters: x = 54, 8 sector bits", () => {
    // 3 additional sectors, offset 0x12345 (0x145 into its sector).
    const entry = (1n << 62n) | (3n << 54n) | 0x12345n;
    assert.deepEqual(compressedSpan(entry, 16), { start: 0x12345, length: 4 * 512 - 0x145 });
  });
  await t.step("2 MiB clusters: x = 49, the largest span is two clusters", () => {
    const entry = (1n << 62n) | (0x1fffn << 49n) | 0x200000n;
    assert.deepEqual(compressedSpan(entry, 21), { start: 0x200000, length: 2 * 2 ** 21 });
  });
  await t.step("offset 0 is invalid", () => {
    assert.equal(compressedSpan((1n << 62n) | (1n << 54n), 16), null);
  });
});

const PATHS = [["engine", true], ["one-shot fallback", false]] as const;

Deno.test("ClusterDecompressor decompresses exactly one cluster and ignores what follows", async (t) => {
  const data = pattern(CLUSTER);
  for (const [path, reuse] of PATHS) {
    for (
      const [type, packed] of [
        [COMPRESSION_DEFLATE, deflateRawSync(data)],
        [COMPRESSION_ZSTD, zstdCompressSync(data)],
      ] as const
    ) {
      await t.step(`${path}, type ${type}`, async () => {
        const decompressor = await ClusterDecompressor.create(type, CLUSTER, { reuse });
        // The span ends on a sector boundary: the next cluster's bytes follow the stream.
        const span = concat([packed, new Uint8Array(300).fill(0x28)]);
        // Twice, with a corrupt one between: the engine is reset after each cluster.
        for (const input of [span, new Uint8Array([7, 0, 0]), span]) {
          let out: Uint8Array;
          try {
            out = decompressor.decompress(input);
          } catch {
            assert.equal(input.length, 3, "only the corrupt input fails");
            continue;
          }
          assert.equal(out.length, CLUSTER);
          assert.ok(out.every((b, i) => b === data[i]), `content differs`);
        }
        decompressor.close();
      });
    }
  }
});

Deno.test("ClusterDecompressor refuses data that does not fill one cluster", async (t) => {
  const cases: [string, number, Uint8Array, RegExp][] = [
    ["deflate, short", COMPRESSION_DEFLATE, deflateRawSync(pattern(CLUSTER - 1)), /65535 bytes/],
    [
      "deflate, cut",
      COMPRESSION_DEFLATE,
      deflateRawSync(pattern(CLUSTER)).subarray(0, 100),
      /instead of the cluster size|does not decompress/,
    ],
    ["deflate, reserved block type", COMPRESSION_DEFLATE, new Uint8Array([7, 0, 0]), /not/],
    ["zstd, short", COMPRESSION_ZSTD, zstdCompressSync(pattern(CLUSTER - 1)), /65535 bytes/],
    [
      "zstd, cut",
      COMPRESSION_ZSTD,
      zstdCompressSync(pattern(CLUSTER)).subarray(0, 100),
      /instead of the cluster size|does not decompress|truncated/,
    ],
    ["zstd, no magic", COMPRESSION_ZSTD, new Uint8Array(64), /frame/],
  ];
  for (const [path, reuse] of PATHS) {
    for (const [name, type, input, message] of cases) {
      await t.step(`${path}: ${name}`, async () => {
        const decompressor = await ClusterDecompressor.create(type, CLUSTER, { reuse });
        assert.throws(() => decompressor.decompress(input), message);
        decompressor.close();
      });
    }
  }
  await t.step("unknown compression type", async () => {
    await assert.rejects(
      () => ClusterDecompressor.create(2, CLUSTER),
      /unknown compression type 2/,
    );
  });
});

Deno.test("ClusterDecompressor keeps the first cluster of a longer stream, as qemu does", async () => {
  const data = pattern(2 * CLUSTER);
  for (
    const [type, packed] of [
      [COMPRESSION_DEFLATE, deflateRawSync(data)],
      [COMPRESSION_ZSTD, zstdCompressSync(data)],
    ] as const
  ) {
    const out = (await ClusterDecompressor.create(type, CLUSTER)).decompress(packed);
    assert.ok(out.every((b, i) => b === data[i]), `type ${type} content differs`);
    // The one-shot fallback cannot stop at one cluster: it refuses.
    const once = await ClusterDecompressor.create(type, CLUSTER, { reuse: false });
    assert.throws(() => once.decompress(packed), /more than the cluster size/);
  }
});

Deno.test("zstdFrameLength() finds the end of the frame, checksum included", () => {
  const frame = zstdCompressSync(pattern(3 * CLUSTER), {
    params: { [constants.ZSTD_c_checksumFlag]: 1 },
  });
  assert.equal(frame[4]! & 4, 4, "the frame carries a checksum");
  assert.equal(zstdFrameLength(concat([frame, new Uint8Array(512)])), frame.length);
  assert.throws(() => zstdFrameLength(frame.subarray(0, frame.length - 1)), /truncated/);
});
