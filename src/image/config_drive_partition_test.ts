import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { emptySysfs, fakeRunner, testdata } from "../erase/_test_runner.ts";
import {
  parseBlkidExport,
  parseLsblkPartitions,
  parseMbrPartitionCount,
  partitionPath,
  prepareConfigDrivePartition,
} from "./config_drive_partition.ts";

const log = new Logger({ test: "config_drive_partition" });

Deno.test("partitionPath() adds p after a trailing digit", () => {
  assert.equal(partitionPath("/dev/sda", 2), "/dev/sda2");
  assert.equal(partitionPath("/dev/nvme0n1", 2), "/dev/nvme0n1p2");
  assert.equal(partitionPath("/dev/loop3", 1), "/dev/loop3p1");
});

Deno.test("parseBlkidExport() reads recorded blkid -p output, unescaping values", () => {
  const iso = parseBlkidExport(testdata("blkid/iso9660_partition.txt"));
  assert.equal(iso.LABEL, "config-2");
  assert.equal(iso.TYPE, "iso9660");
  assert.equal(iso.PART_ENTRY_NUMBER, "1");
  assert.match(iso.APPLICATION_ID!, /^GENISOIMAGE ISO 9660\/HFS FILESYSTEM CREATOR/);
  const empty = parseBlkidExport(testdata("blkid/empty_partition.txt"));
  assert.equal(empty.TYPE, undefined);
  assert.equal(empty.PART_ENTRY_SCHEME, "dos");
});

Deno.test("parseMbrPartitionCount() counts primary and logical partitions", () => {
  assert.deepEqual(parseMbrPartitionCount(testdata("partprobe/msdos_logical.txt")), {
    primary: 2,
    logical: 1,
  });
  assert.deepEqual(parseMbrPartitionCount("/dev/sda: msdos partitions 1 2 3 4\n"), {
    primary: 4,
    logical: 0,
  });
  assert.equal(parseMbrPartitionCount("/dev/sda: gpt partitions 1 2\n"), null);
});

Deno.test("parseLsblkPartitions() keeps partitions only", () => {
  const out = 'NAME="/dev/loop0" TYPE="loop"\nNAME="/dev/loop0p1" TYPE="part"\n' +
    'NAME="/dev/loop0p5" TYPE="part"\n';
  assert.deepEqual(parseLsblkPartitions(out), ["/dev/loop0p1", "/dev/loop0p5"]);
});

Deno.test("prepareConfigDrivePartition() refuses an MBR disk with four primary partitions", async () => {
  const runner = fakeRunner(emptySysfs, (line, cmd) => {
    if (line === "partprobe /dev/sda") return "";
    if (cmd === "lsblk") return 'NAME="/dev/sda" TYPE="disk"\nNAME="/dev/sda1" TYPE="part"\n';
    if (cmd === "blkid") return { code: 2 };
    if (cmd === "blockdev") return "1048576000\n";
    if (cmd === "parted") return "BYT;\n/dev/sda:1000MiB:scsi:512:512:msdos:X:;\n1:1:2:1:::;\n";
    if (line === "partprobe -d -s /dev/sda") return "/dev/sda: msdos partitions 1 2 3 4\n";
    return undefined;
  });
  await assert.rejects(
    () => prepareConfigDrivePartition(runner, "/dev/sda", { log, sleep: () => Promise.resolve() }),
    /Config drive cannot be created on \/dev\/sda: it uses MBR partitioning and already has 4/,
  );
  assert.ok(!runner.calls.some((c) => c.includes("mkpart")), runner.calls.join("\n"));
});
