import assert from "node:assert/strict";
import { CleaningError } from "../api/errors.ts";
import { fakeRunner, testdata } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { parseSelfTestStatus, runSmartSelfTests } from "./smart_self_test.ts";

const log = new Logger({ test: "smart_self_test" });
const noSleep = () => Promise.resolve();

Deno.test("parseSelfTestStatus() reads smartctl's self-test status, null without SMART", () => {
  assert.equal(
    parseSelfTestStatus(testdata("smartctl/ata-self-test-in-progress-hand.json")),
    "in progress, 90% remaining",
  );
  assert.equal(
    parseSelfTestStatus(testdata("smartctl/ata-self-test-read-failure-hand.json")),
    "completed: read failure",
  );
  assert.equal(parseSelfTestStatus(testdata("smartctl/loop-7.3.json")), null);
  assert.equal(parseSelfTestStatus("not json"), null);
});

Deno.test("runSmartSelfTests() waits for running tests and fails naming the failed disk", async () => {
  const polls: Record<string, number> = { "/dev/sda": 0, "/dev/sdb": 0 };
  const runner = fakeRunner((_l, cmd, args) => {
    if (cmd !== "smartctl") return undefined;
    if (args[0] === "-t") return "Testing has begun.";
    const device = args[1]!;
    polls[device]!++;
    if (device === "/dev/sda") {
      return polls[device]! < 3
        ? testdata("smartctl/ata-self-test-in-progress-hand.json")
        : testdata("smartctl/ata-self-test-passed-hand.json");
    }
    // smartctl sets bit 7 of its exit status when the self-test log has errors.
    return { code: 128, stdout: testdata("smartctl/ata-self-test-read-failure-hand.json") };
  });
  const sleeps: number[] = [];
  await assert.rejects(
    runSmartSelfTests(runner, ["/dev/sda", "/dev/sdb"], {
      log,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    }),
    (err: unknown) =>
      err instanceof CleaningError && err.details === "fio (disk) SMART test failed for /dev/sdb",
  );
  assert.deepEqual(polls, { "/dev/sda": 3, "/dev/sdb": 1 });
  assert.deepEqual(sleeps, [30_000, 30_000]);
  assert.deepEqual(runner.calls.slice(0, 2), [
    "smartctl -t long /dev/sda",
    "smartctl -t long /dev/sdb",
  ]);
});

Deno.test("runSmartSelfTests() refuses disks whose test cannot start, and bounds the wait", async () => {
  const cannotStart = fakeRunner((_l, cmd) =>
    cmd === "smartctl" ? { code: 1, stdout: testdata("smartctl/loop-7.3.json") } : undefined
  );
  await assert.rejects(
    runSmartSelfTests(cannotStart, ["/dev/loop0"], { log, sleep: noSleep }),
    (err: unknown) =>
      err instanceof CleaningError &&
      err.details === "fio (disk) failed to start SMART self test on /dev/loop0",
  );

  const forever = fakeRunner((_l, cmd, args) => {
    if (cmd !== "smartctl") return undefined;
    return args[0] === "-t" ? "" : testdata("smartctl/ata-self-test-in-progress-hand.json");
  });
  await assert.rejects(
    runSmartSelfTests(forever, ["/dev/sda"], { log, sleep: noSleep, maxPolls: 5 }),
    (err: unknown) =>
      err instanceof CleaningError && /still running after 5 polls on \/dev\/sda/.test(err.details),
  );
});
