import assert from "node:assert/strict";
import { fetchImageHead, SNIFF_BYTES, sniffFormat } from "./format_sniff.ts";

function at(offset: number, bytes: number[] | string): Uint8Array {
  const head = new Uint8Array(SNIFF_BYTES);
  head.set(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes, offset);
  return head;
}

Deno.test("sniffFormat() recognises formats the raw path must not write", async (t) => {
  const cases: [string, Uint8Array][] = [
    ["qcow2", at(0, [0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3])],
    ["vmdk", at(0, "KDMV")],
    ["vhd", at(0, "conectix")],
    ["vhdx", at(0, "vhdxfile")],
    ["vdi", at(0x40, [0x7f, 0x10, 0xda, 0xbe])],
    ["iso", at(0x8001, "CD001")],
    ["gzip", at(0, [0x1f, 0x8b, 8])],
    ["xz", at(0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])],
    ["zstd", at(0, [0x28, 0xb5, 0x2f, 0xfd])],
    ["bzip2", at(0, "BZh9")],
  ];
  for (const [format, head] of cases) {
    await t.step(format, () => assert.equal(sniffFormat(head), format));
  }
  const mbr = at(510, [0x55, 0xaa]);
  assert.equal(sniffFormat(mbr), "raw");
  assert.equal(sniffFormat(new Uint8Array(3)), "raw");
});

Deno.test("fetchImageHead() stops after the sniffed bytes when Range is ignored", async () => {
  const body = new Uint8Array(SNIFF_BYTES * 4).fill(7);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) =>
      new URL(req.url).pathname === "/missing"
        ? new Response("no", { status: 404 })
        : new Response(body),
  );
  const head = await fetchImageHead(`http://127.0.0.1:${server.addr.port}/img`, {
    timeoutMs: 5000,
  });
  assert.equal(head.length, SNIFF_BYTES);
  assert.equal(head[100], 7);
  await assert.rejects(
    () => fetchImageHead(`http://127.0.0.1:${server.addr.port}/missing`, { timeoutMs: 5000 }),
    /HTTP 404 reading the start of/,
  );
});
