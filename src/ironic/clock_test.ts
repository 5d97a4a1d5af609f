import assert from "node:assert/strict";
import { sleep, systemClock, uniform } from "./clock.ts";

Deno.test("sleep() resolves at once when its signal aborts and leaves no timer behind", async () => {
  const controller = new AbortController();
  const start = performance.now();
  const pending = sleep(60_000, controller.signal);
  controller.abort();
  await pending;
  assert.ok(performance.now() - start < 1000);
  await sleep(10_000, controller.signal); // already aborted
});

Deno.test("systemClock sleeps for real", async () => {
  const start = systemClock.now();
  await systemClock.sleep(20);
  assert.ok(systemClock.now() - start >= 15);
});

Deno.test("uniform() maps [0, 1) onto [low, high]", () => {
  assert.equal(uniform(() => 0, 0.3, 0.6), 0.3);
  assert.equal(uniform(() => 0.5, 1, 2), 1.5);
});
