import assert from "node:assert/strict";
import { chunkReader } from "./chunk_reader.ts";

/** A byte stream delivering `parts`, like a fetch body or a child's stdout. */
function byteStream(parts: Uint8Array[]): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      const part = parts[index++];
      if (!part) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      const request = controller.byobRequest;
      if (!request?.view) {
        controller.enqueue(part.slice());
        return;
      }
      const view = new Uint8Array(request.view.buffer, request.view.byteOffset, part.length);
      view.set(part);
      request.respond(part.length);
    },
  }) as ReadableStream<Uint8Array>;
}

Deno.test("chunkReader() reads a byte stream into one reused buffer", async () => {
  const reader = chunkReader(byteStream([Uint8Array.of(1, 2, 3), Uint8Array.of(4, 5)]), 16);
  const first = await reader.read();
  assert.deepEqual([...first!], [1, 2, 3]);
  const backing = first!.buffer.byteLength;
  const second = await reader.read();
  assert.deepEqual([...second!], [4, 5]);
  // The same 16-byte backing store, moved to a new view: nothing allocated per chunk.
  assert.equal(backing, 16);
  assert.equal(second!.buffer.byteLength, 16);
  assert.equal(first!.byteLength, 0, "the previous chunk is detached, not silently reused");
  assert.equal(await reader.read(), null);
});

Deno.test("chunkReader() reads a real process's stdout through BYOB", async () => {
  const child = new Deno.Command("head", { args: ["-c", "300000", "/dev/zero"], stdout: "piped" })
    .spawn();
  const reader = chunkReader(child.stdout, 4096);
  let total = 0;
  for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
    assert.ok(chunk.length <= 4096, `chunk of ${chunk.length} bytes exceeds the buffer`);
    assert.equal(chunk.buffer.byteLength, 4096);
    total += chunk.length;
  }
  assert.equal(total, 300000);
  await child.status;
});

Deno.test("chunkReader() falls back to the default reader for a plain stream", async () => {
  const plain = ReadableStream.from([Uint8Array.of(7), Uint8Array.of(8, 9)]);
  const reader = chunkReader(plain);
  assert.deepEqual([...(await reader.read())!], [7]);
  assert.deepEqual([...(await reader.read())!], [8, 9]);
  assert.equal(await reader.read(), null);
});
