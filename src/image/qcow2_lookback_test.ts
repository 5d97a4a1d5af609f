import assert from "node:assert/strict";
import { LookBack } from "./qcow2_lookback.ts";

const CLUSTER = 512 * 1024;
const WINDOW = 4 * CLUSTER;

/** The byte the test file holds at host offset `at`. */
function byteAt(at: number): number {
  return (at * 31 + (at >> 12)) & 0xff;
}

function feed(lookBack: LookBack, from: number, to: number, chunk: number): void {
  for (let at = from; at < to; at += chunk) {
    const piece = new Uint8Array(Math.min(chunk, to - at));
    for (let i = 0; i < piece.length; i++) piece[i] = byteAt(at + i);
    lookBack.retain(piece);
  }
}

function assertRecalls(lookBack: LookBack, at: number, length: number): void {
  const run = lookBack.recall(at, length);
  assert.ok(run, `offset ${at} is not held`);
  assert.ok(run.length > 0 && run.length <= length);
  assert.ok(run.every((b, i) => b === byteAt(at + i)), `bytes from ${at} differ`);
}

Deno.test("LookBack holds the last window of bytes across the ring's wrap", () => {
  const lookBack = new LookBack(CLUSTER, 112);
  feed(lookBack, 112, 112 + 3 * WINDOW + 777, 100_003);
  const host = 112 + 3 * WINDOW + 777;
  assert.equal(lookBack.oldest, host - WINDOW);
  assert.equal(lookBack.has(host - WINDOW - 1), false);
  assert.equal(lookBack.recall(host - WINDOW - 1, 10), null);
  assert.equal(lookBack.has(host), false);
  // A run stops at the ring's end: read on until the whole range is back.
  for (let at = host - WINDOW; at < host;) {
    const run = lookBack.recall(at, host - at)!;
    assertRecalls(lookBack, at, run.length);
    at += run.length;
  }
});

Deno.test("LookBack keeps marked clusters after the window has moved on", () => {
  const lookBack = new LookBack(CLUSTER, 0);
  feed(lookBack, 0, CLUSTER + 1000, 4096);
  // A compressed cluster ended inside cluster 1, which is still being read.
  lookBack.mark(CLUSTER + 900);
  // A chunk larger than the window crosses the end of cluster 1.
  feed(lookBack, CLUSTER + 1000, 20 * CLUSTER, 3 * WINDOW);
  assert.equal(lookBack.has(CLUSTER - 1), false);
  assert.ok(lookBack.has(CLUSTER) && lookBack.has(2 * CLUSTER - 1));
  assertRecalls(lookBack, CLUSTER + 800, 5000);
  assert.equal(lookBack.recall(2 * CLUSTER - 10, 100)!.length, 10, "a run ends with its copy");
  // Marking a cluster already read copies it from the window at once.
  lookBack.mark(19 * CLUSTER - 5);
  feed(lookBack, 20 * CLUSTER, 40 * CLUSTER, 1 << 20);
  assertRecalls(lookBack, 18 * CLUSTER, CLUSTER);
  // Only the last four copies are kept.
  for (let cluster = 40; cluster < 45; cluster++) {
    lookBack.mark(cluster * CLUSTER);
    feed(lookBack, cluster * CLUSTER, (cluster + 1) * CLUSTER, 1 << 20);
  }
  feed(lookBack, 45 * CLUSTER, 60 * CLUSTER, 1 << 20);
  assert.equal(lookBack.has(18 * CLUSTER), false);
  assert.equal(lookBack.has(40 * CLUSTER), false);
  assertRecalls(lookBack, 41 * CLUSTER, CLUSTER);
  assertRecalls(lookBack, 44 * CLUSTER, CLUSTER);
});
