import assert from "node:assert/strict";
import { DeploymentError } from "../api/errors.ts";
import { type Runner, systemRunner, ToolError } from "../system/run.ts";
import { createLoopDevice, type LoopDevice } from "../../tests/harness/loop.ts";
import { buildTestImage } from "../../tests/harness/image_server.ts";
import {
  fixGpt,
  parsePartedMachine,
  readPartitionTable,
  validatePartitioning,
} from "./partition_table.ts";

const PARTED_GPT = `BYT;
/dev/sda:16.0MiB:scsi:512:512:gpt:QEMU HARDDISK:;
1:1.00MiB:3.00MiB:2.00MiB:ext4:root:boot, esp;
2:3.00MiB:5.00MiB:2.00MiB:::;
`;

async function deploymentFailure<T>(fn: () => Promise<T>): Promise<T | DeploymentError> {
  return await fn().catch((err) => {
    assert.ok(err instanceof DeploymentError, `unexpected ${err}`);
    return err;
  });
}

/** Writes bytes to the start of a loop device through the device itself (like the agent). */
async function writeToDevice(disk: LoopDevice, bytes: Uint8Array): Promise<void> {
  const dd = systemRunner.pipe("dd", [`of=${disk.path}`, "bs=1M", "conv=fsync", "status=none"]);
  const writer = dd.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  await dd.done;
}

Deno.test("parsePartedMachine() reads the label type and partition numbers", () => {
  assert.deepEqual(parsePartedMachine(PARTED_GPT), { type: "gpt", partitions: [1, 2] });
  assert.deepEqual(
    parsePartedMachine("BYT;\n/dev/sdb:8.00MiB:file:512:512:msdos::;\n"),
    { type: "msdos", partitions: [] },
  );
  assert.equal(parsePartedMachine("Error: /dev/sdc: unrecognised disk label\n"), null);
});

Deno.test("validatePartitioning() wraps tool failures in DeploymentError", async () => {
  const runner: Runner = {
    run(cmd) {
      if (cmd === "parted") {
        return Promise.reject(
          new ToolError(
            { command: "parted", exitCode: 1, stderr: "Error: /dev/sdx: unrecognised disk label" },
            "exited with code 1: Error: /dev/sdx: unrecognised disk label",
          ),
        );
      }
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
    pipe() {
      throw new Error("not used");
    },
  };
  const err = await deploymentFailure(() => validatePartitioning(runner, "/dev/sdx"));
  assert.ok(err instanceof DeploymentError);
  assert.match(
    err.details,
    /^Unable to find a valid partition table on the disk after writing the image\. .*unrecognised disk label/,
  );
});

Deno.test("validatePartitioning() accepts a written GPT image and lists its partitions", async () => {
  await using image = await buildTestImage({ sizeBytes: 4 * 1024 * 1024, table: "gpt" });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await writeToDevice(disk, image.bytes);
  assert.deepEqual(await validatePartitioning(systemRunner, disk.path), {
    type: "gpt",
    partitions: [1, 2],
  });
});

Deno.test("validatePartitioning() refuses a disk without a partition table", async () => {
  await using image = await buildTestImage({ sizeBytes: 1024 * 1024, table: "none" });
  await using disk = await createLoopDevice({ sizeMiB: 4 });
  await writeToDevice(disk, image.bytes);
  const err = await deploymentFailure(() => validatePartitioning(systemRunner, disk.path));
  assert.ok(err instanceof DeploymentError);
  assert.match(err.details, /^Unable to find a valid partition table on the disk/);
});

Deno.test("validatePartitioning() refuses a partition table without partitions", async () => {
  await using disk = await createLoopDevice({ sizeMiB: 4 });
  await systemRunner.run("parted", ["-s", disk.path, "mklabel", "msdos"]);
  const err = await deploymentFailure(() => validatePartitioning(systemRunner, disk.path));
  assert.ok(err instanceof DeploymentError);
  assert.equal(
    err.details,
    `No partitions found on the device ${disk.path} after writing the image.`,
  );
});

Deno.test("fixGpt() moves the backup GPT of a small image to the end of the disk", async () => {
  await using image = await buildTestImage({ sizeBytes: 4 * 1024 * 1024, table: "gpt" });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await writeToDevice(disk, image.bytes);
  const before = await systemRunner.run("sgdisk", ["-v", disk.path]);
  assert.match(before.stdout, /doesn't reside\s+at the end of the disk/);
  assert.equal(await fixGpt(systemRunner, disk.path), true);
  const after = await systemRunner.run("sgdisk", ["-v", disk.path]);
  assert.match(after.stdout, /No problems found/);
  assert.equal(await fixGpt(systemRunner, disk.path), false);
  assert.deepEqual((await readPartitionTable(systemRunner, disk.path)).partitions, [1, 2]);
});

Deno.test("fixGpt() leaves MBR disks alone and fails with DeploymentError on junk", async () => {
  await using image = await buildTestImage({ sizeBytes: 4 * 1024 * 1024, table: "msdos" });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await writeToDevice(disk, image.bytes);
  assert.equal(await fixGpt(systemRunner, disk.path), false);
  await writeToDevice(disk, new Uint8Array(1024 * 1024));
  const err = await deploymentFailure(() => fixGpt(systemRunner, disk.path));
  assert.ok(err instanceof DeploymentError);
  assert.match(err.details, new RegExp(`^Failed to fix GPT partition on disk ${disk.path}: `));
});
