import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DigestingWriter, OutputWriteError } from "./digesting_writer.ts";

/** A writable stream that keeps copies of what it receives, optionally slowly or failing. */
function sink(options: { delayMs?: number; failAfter?: number } = {}) {
  const received: Uint8Array[] = [];
  let total = 0;
  const stream = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      if (options.failAfter !== undefined && total + chunk.length > options.failAfter) {
        throw new Error("Broken pipe (os error 32)");
      }
      received.push(chunk.slice());
      total += chunk.length;
    },
  });
  return {
    writer: stream.getWriter(),
    bytes(): Uint8Array {
      const out = new Uint8Array(total);
      let offset = 0;
      for (const part of received) {
        out.set(part, offset);
        offset += part.length;
      }
      return out;
    },
    writes: received,
  };
}

function random(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

Deno.test("DigestingWriter writes every byte in order and returns the digest", async (t) => {
  const data = random(1_000_003);
  for (const algorithm of ["sha256", "sha512", "md5"] as const) {
    await t.step(algorithm, async () => {
      const out = sink({ delayMs: 1 });
      using writer = new DigestingWriter(out.writer, {
        hash: createHash(algorithm),
        slots: 3,
        slotBytes: 65536,
      });
      // Uneven chunks that straddle slot boundaries.
      for (let offset = 0; offset < data.length;) {
        const size = 1 + ((offset * 7919) % 150_000);
        await writer.write(data.subarray(offset, offset + size));
        offset += size;
      }
      const digest = await writer.finish();
      assert.equal(digest, createHash(algorithm).update(data).digest("hex"));
      assert.deepEqual(out.bytes(), data);
      assert.equal(writer.written, data.length);
      // Output writes are whole slots, except the last.
      assert.ok(out.writes.slice(0, -1).every((w) => w.length === 65536));
    });
  }
});

Deno.test("DigestingWriter hashes an empty stream", async () => {
  const out = sink();
  using writer = new DigestingWriter(out.writer, { hash: createHash("sha256") });
  assert.equal(await writer.finish(), createHash("sha256").digest("hex"));
  assert.equal(out.writes.length, 0);
});

Deno.test("DigestingWriter fails with OutputWriteError once the output refuses data", async () => {
  const out = sink({ failAfter: 200_000 });
  using writer = new DigestingWriter(out.writer, {
    hash: createHash("sha256"),
    slots: 2,
    slotBytes: 65536,
  });
  const err = await (async () => {
    for (let i = 0; i < 100; i++) await writer.write(new Uint8Array(65536));
    await writer.finish();
  })().then(() => null, (e) => e);
  assert.ok(err instanceof OutputWriteError, `unexpected ${err}`);
  assert.match(err.message, /Broken pipe/);
  assert.ok(writer.written <= 200_000);
});

Deno.test("DigestingWriter reads ahead while the output is still writing earlier slots", async () => {
  const pending: (() => void)[] = [];
  const output = new WritableStream<Uint8Array>({
    write: () => new Promise<void>((resolve) => pending.push(resolve)),
  });
  using writer = new DigestingWriter(output.getWriter(), {
    hash: createHash("sha256"),
    slots: 3,
    slotBytes: 4,
  });
  // Two whole slots are handed over without waiting for the output.
  await writer.write(new Uint8Array(8).fill(1));
  assert.equal(writer.written, 0);
  // The third fills the ring: the write waits until the output has taken the first slot.
  let returned = false;
  const third = writer.write(new Uint8Array(4).fill(2)).then(() => {
    returned = true;
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(returned, false);
  assert.equal(pending.length, 1);
  pending.shift()!();
  await third;
  assert.equal(writer.written, 4);
  const finished = writer.finish();
  for (let i = 0; i < 10 && writer.written < 12; i++) {
    await new Promise((r) => setTimeout(r, 1));
    pending.shift()?.();
  }
  const expected = new Uint8Array(12).fill(1);
  expected.fill(2, 8);
  assert.equal(await finished, createHash("sha256").update(expected).digest("hex"));
  assert.equal(writer.written, 12);
});
