import assert from "node:assert/strict";
import { BlockDeviceError, DeploymentError } from "../api/errors.ts";
import { Logger } from "../log.ts";
import { ToolError } from "../system/run.ts";
import { fakeRunner, type Handler } from "./_test_runner.ts";
import { destroyDiskMetadata, gptSectors, waitForDeviceRelease } from "./destroy.ts";

const log = new Logger({ test: "destroy" });

function disk(sector: number, size: number): Handler {
  return (line, cmd) => {
    if (line.startsWith("blockdev --getss")) return `${sector}\n`;
    if (line.startsWith("blockdev --getsize64")) return `${size}\n`;
    if (cmd === "fuser") return { code: 1, stdout: "" };
    if (cmd === "wipefs" || cmd === "dd" || cmd === "sgdisk") return "";
    return undefined;
  };
}

function noSleep(slept: number[] = []) {
  return (ms: number) => {
    slept.push(ms);
    return Promise.resolve();
  };
}

Deno.test("destroyDiskMetadata() zeroes both GPT areas of a 512-byte-sector disk", async () => {
  const runner = fakeRunner(disk(512, 64 * 2 ** 20));
  await destroyDiskMetadata(runner, "/dev/sdb", { log, sleep: noSleep() });
  assert.deepEqual(runner.calls, [
    "wipefs --force --all /dev/sdb",
    "blockdev --getss /dev/sdb",
    "blockdev --getsize64 /dev/sdb",
    "dd bs=512 if=/dev/zero of=/dev/sdb count=33 oflag=direct",
    "dd bs=512 if=/dev/zero of=/dev/sdb count=33 oflag=direct seek=131039",
    "sgdisk -Z /dev/sdb",
    "fuser /dev/sdb",
  ]);
});

Deno.test("destroyDiskMetadata() uses 5 sectors on a 4K-native disk", async () => {
  const size = 4_000_787_030_016;
  const runner = fakeRunner(disk(4096, size));
  await destroyDiskMetadata(runner, "/dev/nvme1n1", { log, sleep: noSleep() });
  assert.ok(runner.calls.includes("dd bs=4096 if=/dev/zero of=/dev/nvme1n1 count=5 oflag=direct"));
  assert.ok(
    runner.calls.includes(
      `dd bs=4096 if=/dev/zero of=/dev/nvme1n1 count=5 oflag=direct seek=${size / 4096 - 5}`,
    ),
  );
});

Deno.test("destroyDiskMetadata() zeroes a device smaller than the GPT area once", async () => {
  const runner = fakeRunner(disk(512, 8192));
  await destroyDiskMetadata(runner, "/dev/sdz1", { log, sleep: noSleep() });
  assert.deepEqual(runner.calls.filter((c) => c.startsWith("dd")), [
    "dd bs=512 if=/dev/zero of=/dev/sdz1 count=16 oflag=direct",
  ]);
});

Deno.test("gptSectors() covers 34 x 512 bytes for unusual sector sizes", () => {
  assert.equal(gptSectors(512), 33);
  assert.equal(gptSectors(4096), 5);
  assert.equal(gptSectors(1024), 17);
  assert.equal(gptSectors(2048), 9);
});

Deno.test("destroyDiskMetadata() retries wipefs without --force only if --force is refused", async () => {
  let first = true;
  const runner = fakeRunner((line) => {
    if (line === "wipefs --force --all /dev/sdb" && first) {
      first = false;
      return { code: 1, stderr: "wipefs: unrecognized option '--force'\n" };
    }
    return undefined;
  }, disk(512, 2 ** 30));
  await destroyDiskMetadata(runner, "/dev/sdb", { log, sleep: noSleep() });
  assert.deepEqual(runner.calls.slice(0, 2), [
    "wipefs --force --all /dev/sdb",
    "wipefs --all /dev/sdb",
  ]);

  const failing = fakeRunner((_line, cmd) =>
    cmd === "wipefs"
      ? { code: 1, stderr: "wipefs: error: /dev/sdb: probing initialization failed" }
      : undefined
  );
  await assert.rejects(destroyDiskMetadata(failing, "/dev/sdb", { log }), ToolError);
  assert.deepEqual(failing.calls, ["wipefs --force --all /dev/sdb"]);
});

Deno.test("destroyDiskMetadata() refuses nonsense from blockdev", async () => {
  const runner = fakeRunner(
    (line) => line.startsWith("blockdev --getss") ? "0\n" : undefined,
    disk(512, 1),
  );
  await assert.rejects(
    destroyDiskMetadata(runner, "/dev/sdb", { log }),
    (err: unknown) =>
      err instanceof BlockDeviceError && /blockdev --getss returned "0"/.test(err.details),
  );
});

Deno.test("waitForDeviceRelease() ignores fuser's permission noise on stderr", async () => {
  // Recorded as root in a sandbox whose PID 1 cannot be inspected.
  const noise = Array.from(
    { length: 3 },
    (_, i) => `Cannot stat file /proc/1/fd/${i}: Permission denied\n`,
  )
    .join("");
  const runner = fakeRunner(() => ({ code: 1, stdout: "", stderr: noise }));
  await waitForDeviceRelease(runner, "/dev/loop3", { log, sleep: noSleep() });
  assert.equal(runner.calls.length, 1);
});

Deno.test("waitForDeviceRelease() waits while processes hold the device", async () => {
  let holders = 2;
  const slept: number[] = [];
  const runner = fakeRunner(() =>
    holders-- > 0
      ? { code: 0, stdout: "  4242  4343", stderr: "/dev/sdb:           " }
      : { code: 1 }
  );
  await waitForDeviceRelease(runner, "/dev/sdb", {
    log,
    busyWait: { attempts: 5, intervalMs: 250 },
    sleep: noSleep(slept),
  });
  assert.equal(runner.calls.length, 3);
  assert.deepEqual(slept, [250, 250]);
});

Deno.test("waitForDeviceRelease() gives up after the configured attempts", async () => {
  const slept: number[] = [];
  const runner = fakeRunner(() => ({ code: 0, stdout: " 4242", stderr: "/dev/sdb: " }));
  await assert.rejects(
    waitForDeviceRelease(runner, "/dev/sdb", {
      log,
      busyWait: { attempts: 3, intervalMs: 10 },
      sleep: noSleep(slept),
    }),
    (err: unknown) =>
      err instanceof DeploymentError &&
      err.details ===
        "Destroying metadata failed on device /dev/sdb: processes 4242 are holding it after 3 checks",
  );
  assert.deepEqual(slept, [10, 10]);
});
