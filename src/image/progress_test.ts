import assert from "node:assert/strict";
import { Logger, setSink } from "../log.ts";
import { type Progress, ProgressMeter } from "./progress.ts";

Deno.test("ProgressMeter reports at most once a second and logs every five", () => {
  const lines: string[] = [];
  const restore = setSink((line) => lines.push(line));
  try {
    let clock = 0;
    const reports: Progress[] = [];
    const meter = new ProgressMeter({
      total: 10_000,
      log: new Logger({ test: "progress" }),
      now: () => clock,
      onProgress: (p) => reports.push(p),
    });
    for (let t = 100; t <= 6_000; t += 100) {
      clock = t;
      meter.update(t, t - 50);
    }
    assert.equal(reports.length, 6); // at 1 s, 2 s, ... 6 s
    assert.deepEqual(reports[0], {
      downloaded: 1000,
      written: 950,
      total: 10_000,
      rate: 1000,
      eta: 9,
    });
    assert.equal(lines.filter((l) => l.includes("Image download in progress")).length, 1);
    assert.match(lines[0] ?? "", /percent=50 /);
    const done = meter.complete(10_000, 10_000);
    assert.equal(done.eta, 0);
    assert.equal(reports.length, 7);
  } finally {
    restore();
  }
});

Deno.test("ProgressMeter has no ETA without a total", () => {
  let clock = 0;
  const meter = new ProgressMeter({ total: null, log: new Logger(), now: () => clock });
  clock = 2_000;
  assert.deepEqual(meter.snapshot(4096, 0), {
    downloaded: 4096,
    written: 0,
    total: null,
    rate: 2048,
    eta: null,
  });
});
