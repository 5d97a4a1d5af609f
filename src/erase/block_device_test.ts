import assert from "node:assert/strict";
import { BlockDeviceEraseError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { device } from "../hints/_test_devices.ts";
import { Logger } from "../log.ts";
import { emptySysfs, fakeRunner, type Handler, testdata } from "./_test_runner.ts";
import { eraseBlockDevice } from "./block_device.ts";
import { PROBE_LSBLK_ARGS } from "./probe.ts";

const log = new Logger({ test: "erase_block_device" });
const GiB = 2 ** 30;

/** A plain disk: no RAID signature, writable, no discard unless `discard` is given. */
function machine(
  options: { fstype?: string; readOnly?: boolean; discard?: boolean } = {},
): Handler {
  return (line, cmd, args) => {
    if (cmd === "lsblk" && args.join(" ").startsWith(PROBE_LSBLK_ARGS.join(" "))) {
      const kname = args.at(-1)!.replace("/dev/", "");
      return JSON.stringify({ blockdevices: [{ kname, fstype: options.fstype ?? null }] });
    }
    if (cmd === "blkid") return { code: 2 };
    if (cmd === "cat" && args[1]?.endsWith("/ro")) return options.readOnly ? "1\n" : "0\n";
    if (cmd === "grep" && line.includes("/queue/discard_max_bytes")) {
      const kname = /class\/block\/([^/]+)\//.exec(line)![1];
      if (!options.discard) return { code: 0, stdout: "" };
      return `/sys/class/block/${kname}/queue/discard_max_bytes:2147450880\n` +
        `/sys/class/block/${kname}/queue/write_zeroes_max_bytes:2147450880\n`;
    }
    return emptySysfs(line, cmd);
  };
}
const ok = (prefix: string): Handler => (line) => line.startsWith(prefix) ? "" : undefined;
const ctx = (methods: string[] = []) => ({ log, progress: (m: string) => methods.push(m) });
const node = (info: Record<string, unknown> = {}): Node => ({
  uuid: "n1",
  driver_internal_info: info,
});
const nvme = device("/dev/nvme0n1", { size: 512 * GiB });
const sda = device("/dev/sda", { size: 512 * GiB });

Deno.test("eraseBlockDevice() falls back to shred after a failed NVMe format when allowed", async () => {
  const runner = fakeRunner(
    machine(),
    (line) =>
      line.startsWith("nvme id-ctrl")
        ? testdata("nvme/id-ctrl-format-crypto-hand.json")
        : undefined,
    (line) =>
      line.startsWith("nvme format")
        ? { code: 1, stderr: "NVMe status: ACCESS_DENIED" }
        : undefined,
    ok("shred"),
  );
  const methods: string[] = [];
  const report = await eraseBlockDevice(
    runner,
    node({ agent_continue_if_secure_erase_failed: true, agent_erase_devices_iterations: 2 }),
    nvme,
    ctx(methods),
  );
  assert.equal(report.method, "shred");
  assert.deepEqual(methods, ["nvme_format_crypto", "shred"]);
  assert.ok(runner.calls.includes("shred --force --zero --verbose --iterations 2 /dev/nvme0n1"));
});

Deno.test("eraseBlockDevice() fails without overwriting when a secure erase fails and fallback is off", async () => {
  const runner = fakeRunner(
    machine(),
    (line) => line.startsWith("hdparm -I") ? testdata("hdparm/ssd-frozen-hand.txt") : undefined,
    ok("smartctl"),
  );
  await assert.rejects(
    eraseBlockDevice(runner, node(), sda, ctx()),
    (err) =>
      err instanceof BlockDeviceEraseError &&
      /secure erase of device \/dev\/sda, fallback to overwriting is not enabled: .*frozen/.test(
        err.details,
      ),
  );
  assert.ok(!runner.calls.some((c) => /^(shred|blkdiscard)/.test(c)));
});

Deno.test("eraseBlockDevice() stops at a successful ATA secure erase", async () => {
  const runner = fakeRunner(
    machine({ discard: true }),
    (line) =>
      line.startsWith("hdparm -I")
        ? testdata("hdparm/ssd-not-frozen-enhanced-hand.txt")
        : undefined,
    ok("smartctl"),
    ok("hdparm --user-master"),
  );
  const report = await eraseBlockDevice(runner, node(), sda, ctx());
  assert.equal(report.method, "ata_secure_erase_enhanced");
  assert.ok(!runner.calls.some((c) => /^(shred|blkdiscard)/.test(c)));
});

Deno.test("eraseBlockDevice() skips NVMe erase when disabled and discards a device that supports it", async () => {
  const runner = fakeRunner(
    machine({ discard: true }),
    (line) =>
      line === "blkdiscard --secure /dev/nvme0n1"
        ? { code: 1, stderr: "Operation not supported" }
        : undefined,
    ok("blkdiscard"),
  );
  const report = await eraseBlockDevice(
    runner,
    node({ agent_enable_nvme_secure_erase: false }),
    nvme,
    ctx(),
  );
  assert.equal(report.method, "discard_zeroout");
  assert.deepEqual(runner.calls.filter((c) => /^(nvme|blkdiscard|shred)/.test(c)), [
    "blkdiscard --secure /dev/nvme0n1",
    "blkdiscard /dev/nvme0n1",
    "blkdiscard --zeroout /dev/nvme0n1",
  ]);
});

Deno.test("eraseBlockDevice() skips or refuses read-only devices as the conductor says", async () => {
  const skipped = await eraseBlockDevice(
    fakeRunner(machine({ readOnly: true })),
    node({ agent_erase_skip_read_only: true }),
    sda,
    ctx(),
  );
  assert.equal(skipped.skipped, "read-only device");
  const runner = fakeRunner(machine({ readOnly: true }));
  await assert.rejects(
    eraseBlockDevice(runner, node(), sda, ctx()),
    (err) =>
      err instanceof BlockDeviceEraseError && /\/dev\/sda .*flagged read-only/.test(err.details),
  );
  assert.ok(!runner.calls.some((c) => /^(hdparm|shred|blkdiscard)/.test(c)));
});

Deno.test("eraseBlockDevice() leaves a Linux RAID member alone", async () => {
  const runner = fakeRunner(machine({ fstype: "linux_raid_member" }));
  const report = await eraseBlockDevice(runner, node(), sda, ctx());
  assert.equal(report.skipped, "Linux RAID member");
  assert.ok(!runner.calls.some((c) => /^(hdparm|shred|blkdiscard)/.test(c)));
});

Deno.test("eraseBlockDevice() refuses to overwrite with 0 iterations and no zero pass", async () => {
  const runner = fakeRunner(machine(), ok("hdparm -I"));
  await assert.rejects(
    eraseBlockDevice(
      runner,
      node({ agent_erase_devices_iterations: 0, agent_erase_devices_zeroize: false }),
      sda,
      ctx(),
    ),
    (err) =>
      err instanceof BlockDeviceEraseError &&
      /0 iterations and no final zero pass/.test(err.details),
  );
});
