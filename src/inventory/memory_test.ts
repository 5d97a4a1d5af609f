import assert from "node:assert/strict";
import { physicalMemoryMb } from "./memory.ts";
import { parseLshw } from "./lshw.ts";
import { Logger } from "../log.ts";

const testdata = new URL("../../testdata/", import.meta.url);
const lshw = async (name: string) =>
  parseLshw(await Deno.readTextFile(new URL(`lshw/${name}`, testdata)));

Deno.test("physicalMemoryMb() reads the recorded VM's single memory node", async () => {
  // The VM's lshw reports 25769803776 bytes = 24576 MiB.
  assert.equal(physicalMemoryMb(await lshw("vm-kvm-02.19.json"), new Logger()), 24576);
});

Deno.test("physicalMemoryMb() sums banks when a memory node has no size, never caches", async () => {
  // memory:0 = 2 × 32 GiB banks (one empty), memory:1 = 64 GiB; cache:0 is not memory.
  assert.equal(physicalMemoryMb(await lshw("server-hand.json"), new Logger()), 131072);
});

Deno.test("physicalMemoryMb() reports 0 with a warning when nothing is sized", () => {
  const warnings: string[] = [];
  const log = new Logger();
  log.warn = (message: string) => void warnings.push(message);
  assert.equal(physicalMemoryMb({ id: "x", children: [{ id: "core", children: [] }] }, log), 0);
  assert.equal(warnings.length, 1);
});

Deno.test("parseLshw() takes the first element of a list and refuses an empty one", () => {
  assert.equal(parseLshw('[{"id":"a"},{"id":"b"}]').id, "a");
  assert.throws(() => parseLshw("[]"), /lshw printed no machine object/);
});
