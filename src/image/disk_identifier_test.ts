import assert from "node:assert/strict";
import { DeploymentError } from "../api/errors.ts";
import { type Runner, systemRunner, ToolError } from "../system/run.ts";
import { createLoopDevice } from "../../tests/harness/loop.ts";
import { buildTestImage } from "../../tests/harness/image_server.ts";
import { odArguments, parseDiskIdentifier, readDiskIdentifier } from "./disk_identifier.ts";

/** A runner that answers `run` from a list of canned results (or errors) in order. */
function fakeRunner(results: (string | Error)[]) {
  const calls: string[][] = [];
  const runner: Runner = {
    run(cmd, args) {
      calls.push([cmd, ...args]);
      const next = results.shift();
      if (next === undefined) throw new Error("no more canned results");
      return next instanceof Error
        ? Promise.reject(next)
        : Promise.resolve({ code: 0, stdout: next, stderr: "" });
    },
    pipe() {
      throw new Error("not used");
    },
  };
  return { runner, calls };
}

Deno.test("parseDiskIdentifier() formats od output as 0x%08x", () => {
  assert.equal(parseDiskIdentifier(" deadbeef\n"), "0xdeadbeef");
  assert.equal(parseDiskIdentifier(" 00c0ffee\n"), "0x00c0ffee");
  assert.equal(parseDiskIdentifier(" 1F\n"), "0x0000001f");
  assert.equal(parseDiskIdentifier(""), null);
  assert.equal(parseDiskIdentifier("od: /dev/sda: read error"), null);
});

Deno.test("readDiskIdentifier() retries, then fails with DeploymentError", async () => {
  const failing = new ToolError(
    { command: "od", exitCode: 1, stderr: "od: /dev/sdx: No such device" },
    "exited with code 1",
  );
  const ok = fakeRunner([failing, "", " 12345678\n"]);
  assert.equal(
    await readDiskIdentifier(ok.runner, "/dev/sdx", { sleep: () => Promise.resolve() }),
    "0x12345678",
  );
  assert.deepEqual(ok.calls[0], ["od", ...odArguments("/dev/sdx")]);
  assert.equal(ok.calls.length, 3);

  const bad = fakeRunner([failing, failing]);
  const err = await readDiskIdentifier(bad.runner, "/dev/sdx", {
    attempts: 2,
    sleep: () => Promise.resolve(),
  }).then(() => null, (e) => e);
  assert.ok(err instanceof DeploymentError);
  assert.match(err.details, /Unable to read the disk identifier of \/dev\/sdx after 2 attempts/);
});

Deno.test("readDiskIdentifier() reads the MBR signature of a written loop device", async () => {
  await using image = await buildTestImage({
    sizeBytes: 4 * 1024 * 1024,
    table: "msdos",
    diskSignature: 0xdeadbeef,
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await Deno.writeFile(disk.file, image.bytes, { create: false });
  assert.equal(await readDiskIdentifier(systemRunner, disk.path), "0xdeadbeef");
});

Deno.test("readDiskIdentifier() gives 0x00000000 for a GPT disk", async () => {
  await using image = await buildTestImage({ sizeBytes: 4 * 1024 * 1024, table: "gpt" });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await Deno.writeFile(disk.file, image.bytes, { create: false });
  assert.equal(await readDiskIdentifier(systemRunner, disk.path), "0x00000000");
});
