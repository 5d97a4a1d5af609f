import assert from "node:assert/strict";
import { fakeRunner } from "../erase/_test_runner.ts";
import { Logger, setSink } from "../log.ts";
import { UnmountError, withTempMount } from "./temp_mount.ts";

setSink(() => {});
const log = new Logger();

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("withTempMount() mounts nosuid,nodev,noexec, unmounts and removes the directory", async () => {
  const runner = fakeRunner(() => "");
  let seen = "";
  const result = await withTempMount(runner, "/dev/sda2", { log, readOnly: true }, (dir) => {
    seen = dir;
    return Promise.resolve(42);
  });
  assert.equal(result, 42);
  assert.deepEqual(runner.calls, [
    `mount -o ro,nosuid,nodev,noexec /dev/sda2 ${seen}`,
    `umount ${seen}`,
  ]);
  assert.equal(await exists(seen), false);
});

Deno.test("withTempMount() unmounts when the callback fails, and its error wins", async () => {
  const runner = fakeRunner(() => "");
  let seen = "";
  await assert.rejects(
    withTempMount(runner, "/dev/sda2", { log }, (dir) => {
      seen = dir;
      return Promise.reject(new RangeError("boom"));
    }),
    RangeError,
  );
  assert.deepEqual(runner.calls, [
    `mount -o nosuid,nodev,noexec /dev/sda2 ${seen}`,
    `umount ${seen}`,
  ]);
  assert.equal(await exists(seen), false);
});

Deno.test("withTempMount() throws the mount error and removes the directory", async () => {
  let seen = "";
  const runner = fakeRunner((_l, cmd, args) => {
    if (cmd !== "mount") return undefined;
    seen = args.at(-1)!;
    return { code: 32, stderr: "mount: wrong fs type" };
  });
  await assert.rejects(
    withTempMount(runner, "/dev/sda9", { log }, () => Promise.resolve()),
    /wrong fs type/,
  );
  assert.equal(runner.calls.length, 1);
  assert.equal(await exists(seen), false);
});

Deno.test("withTempMount() retries umount 3 times, then throws UnmountError and keeps the directory", async () => {
  const runner = fakeRunner((_l, cmd) =>
    cmd === "umount" ? { code: 32, stderr: "target is busy" } : ""
  );
  let seen = "";
  await assert.rejects(
    withTempMount(runner, "/dev/sda2", { log, retryDelayMs: 0 }, (dir) => {
      seen = dir;
      return Promise.resolve();
    }),
    (err: unknown) => {
      assert.ok(err instanceof UnmountError);
      assert.match(
        err.details,
        new RegExp(`Cannot unmount /dev/sda2 from ${seen}: .*target is busy`),
      );
      return true;
    },
  );
  assert.equal(runner.calls.filter((c) => c.startsWith("umount")).length, 3);
  assert.equal(await exists(seen), true, "a directory that may still be mounted is kept");
  await Deno.remove(seen);
});
