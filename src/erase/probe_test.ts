import assert from "node:assert/strict";
import { ProtectedDeviceError } from "../api/errors.ts";
import { emptySysfs, fakeRunner } from "./_test_runner.ts";
import { PROBE_LSBLK_ARGS, probeDevice } from "./probe.ts";
import { safetyCheckBlockDevice } from "./safety.ts";

/** lsblk and blkid see a bare disk, as before the kernel has scanned its partitions. */
function bareDisk(partxOut: string) {
  return fakeRunner((line, cmd) => {
    if (line.startsWith(["lsblk", ...PROBE_LSBLK_ARGS].join(" "))) {
      return JSON.stringify({ blockdevices: [{ kname: "sdb", ptuuid: null, fstype: null }] });
    }
    if (cmd === "blkid") return "DEVNAME=/dev/sdb\nPTTYPE=gpt\n";
    if (cmd === "partx") return partxOut;
    return emptySysfs(line, cmd);
  });
}

Deno.test("probeDevice() reads partition types from the table itself with partx", async () => {
  // `partx -g -o TYPE,UUID --show` output recorded on a loop device (util-linux 2.38).
  const runner = bareDisk(
    "aa31e02a-400f-11db-9590-000c2911d1b8 0f6bb9c4-3f7e-450c-9c41-4799a12aa41e\n",
  );
  const [self] = await probeDevice(runner, "/dev/sdb");
  assert.ok(self?.ids.includes("aa31e02a-400f-11db-9590-000c2911d1b8"));
  assert.ok(runner.calls.includes("partx -g -o TYPE,UUID --show /dev/sdb"));
});

Deno.test("safetyCheckBlockDevice() refuses a VMFS MBR partition the kernel has not scanned", async () => {
  await assert.rejects(
    safetyCheckBlockDevice(bareDisk("0xfb 6b1dc614-01\n"), "/dev/sdb", {
      node: { uuid: "n" },
      guardSpecialFilesystems: true,
    }),
    (err) =>
      err instanceof ProtectedDeviceError &&
      err.details.includes("Protected VMware VMFS Partition (MBR) located on device /dev/sdb"),
  );
});
