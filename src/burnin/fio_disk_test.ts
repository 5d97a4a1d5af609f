import assert from "node:assert/strict";
import { CommandExecutionError, ProtectedDeviceError } from "../api/errors.ts";
import { fakeRunner, testdata } from "../erase/_test_runner.ts";
import { device } from "../hints/_test_devices.ts";
import { Logger } from "../log.ts";
import { burninDisks, fioDiskArgs } from "./fio_disk.ts";
import { diskSettings, readSettings } from "./settings.ts";

const log = new Logger({ test: "fio_disk" });
const settings = (driver_info: Record<string, unknown>) =>
  readSettings(diskSettings, { uuid: "n1", driver_info }, "burnin_disk");
const FIO =
  "fio --rw readwrite --bs 4k --direct 1 --ioengine libaio --iodepth 32 --verify crc32c " +
  "--verify_dump 1 --continue_on_error verify";

Deno.test("fioDiskArgs() builds IPA's fio line with one job per disk", () => {
  assert.equal(
    ["fio", ...fioDiskArgs(settings({}), ["/dev/sda", "/dev/nvme0n1"])].join(" "),
    `${FIO} --loops 4 --runtime 0 --time_based --verify_state_save 0 ` +
      "--name /dev/sda --name /dev/nvme0n1",
  );
  assert.equal(
    [
      "fio",
      ...fioDiskArgs(
        settings({
          agent_burnin_fio_disk_loops: "2",
          agent_burnin_fio_disk_runtime: 600,
          agent_burnin_fio_disk_outputfile: "/var/log/fio.json",
        }),
        ["/dev/sda"],
      ),
    ].join(" "),
    `${FIO} --loops 2 --runtime 600 --time_based --verify_state_save 0 ` +
      "--output-format json --output /var/log/fio.json --name /dev/sda",
  );
});

Deno.test("burninDisks() refuses every disk outside the fence before fio starts", async () => {
  const runner = fakeRunner((_l, cmd) => (cmd === "fio" ? "" : undefined));
  await assert.rejects(
    burninDisks({
      runner,
      log,
      settings: settings({}),
      listDisks: () => Promise.resolve([device("/dev/loop7"), device("/dev/sda")]),
      fence: { protectHost: true, onlyBlockDevices: ["/dev/loop7"] },
    }),
    (err: unknown) =>
      err instanceof ProtectedDeviceError && /Refusing to burn in \/dev\/sda/.test(err.details),
  );
  await assert.rejects(
    burninDisks({
      runner,
      log,
      settings: settings({}),
      listDisks: () => Promise.resolve([]),
      fence: { protectHost: true, onlyBlockDevices: [] },
    }),
    (err: unknown) =>
      err instanceof CommandExecutionError && /no block devices to burn in/.test(err.details),
  );
  assert.deepEqual(runner.calls, []);
});

Deno.test("burninDisks() runs fio, then SMART self-tests when asked, and wraps fio failures", async () => {
  const runner = fakeRunner((_l, cmd, args) => {
    if (cmd === "fio") return "fio report";
    if (cmd === "smartctl" && args[0] === "-t") return "";
    if (cmd === "smartctl") return testdata("smartctl/ata-self-test-passed-hand.json");
    return undefined;
  });
  await burninDisks({
    runner,
    log,
    settings: settings({
      agent_burnin_fio_disk_runtime: 1,
      agent_burnin_fio_disk_smart_test: true,
    }),
    listDisks: () => Promise.resolve([device("/dev/sda")]),
    fence: { protectHost: false, onlyBlockDevices: [] },
    sleep: () => Promise.resolve(),
  });
  assert.deepEqual(runner.calls, [
    `${FIO} --loops 4 --runtime 1 --time_based --verify_state_save 0 --name /dev/sda`,
    "smartctl -t long /dev/sda",
    "smartctl -ja /dev/sda",
  ]);

  const failing = fakeRunner((_l, cmd) =>
    cmd === "fio"
      ? { code: 1, stderr: "fio: verify failed at file /dev/sda offset 4096" }
      : undefined
  );
  await assert.rejects(
    burninDisks({
      runner: failing,
      log,
      settings: settings({ agent_burnin_fio_disk_smart_test: true }),
      listDisks: () => Promise.resolve([device("/dev/sda")]),
      fence: { protectHost: false, onlyBlockDevices: [] },
    }),
    (err: unknown) =>
      err instanceof CommandExecutionError &&
      /^fio \(disk\) failed with error .*verify failed at file \/dev\/sda/.test(err.details),
  );
  // No SMART test after a failed fio run.
  assert.equal(failing.calls.length, 1);
});
