import assert from "node:assert/strict";
import { InvalidImage } from "../api/errors.ts";
import { MemorySink } from "./byte_sink.ts";
import { Qcow2StreamDecoder } from "./qcow2_stream.ts";
import { imageDir, sparseContent } from "./_test_images.ts";

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
      await dir.tool("qemu-img", [
        "convert",
        "-f",
        "raw",
        "-O",
        "qcow2",
        "-o",
        `cluster_size=${cluster}`,
        "disk.raw",
        `disk-${cluster}.qcow2`,
      ]);
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

Deno.test("Qcow2StreamDecoder refuses compressed clusters and a truncated image", async () => {
  await using dir = await imageDir();
  await Deno.writeFile(dir.path("zeros.raw"), new Uint8Array(1 << 20).fill(7));
  await dir.tool("qemu-img", ["convert", "-c", "-f", "raw", "-O", "qcow2", "zeros.raw", "c.qcow2"]);
  const compressed = await dir.read("c.qcow2");
  await assert.rejects(
    () => feed(new Qcow2StreamDecoder(new MemorySink(), { imageId: "c" }), compressed, 65536),
    (err) => err instanceof InvalidImage && /compressed clusters/.test(err.details),
  );
  await dir.tool("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "zeros.raw", "u.qcow2"]);
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
