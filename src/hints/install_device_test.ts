import assert from "node:assert/strict";
import { DeviceNotFound } from "../api/errors.ts";
import { emptySysfs, fakeRunner, testdata } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { findOsInstallDevice, rootDeviceHintsForDeploy } from "./install_device.ts";

const log = new Logger({ test: "install_device" });

function server() {
  return fakeRunner((_line, cmd) => {
    if (cmd === "lsblk") return testdata("lsblk/server-2.38-hand.json");
    if (cmd === "udevadm") {
      return testdata("udev/systemd252-server-batch-hand.txt");
    }
    return undefined;
  }, emptySysfs);
}

Deno.test("findOsInstallDevice() without hints takes the smallest disk of at least 4 GiB", async () => {
  const chosen = await findOsInstallDevice(server(), { log, node: null, onlyBlockDevices: [] });
  assert.equal(chosen.name, "/dev/sda");
});

Deno.test("findOsInstallDevice() matches udev's long serial in all-values mode", async () => {
  const node = {
    uuid: "u",
    instance_info: { root_device: { serial: "SAMSUNG MZQLB960HAJR-00007_S3EVNX0M123456" } },
  };
  const chosen = await findOsInstallDevice(server(), { log, node, onlyBlockDevices: [] });
  assert.equal(chosen.name, "/dev/nvme0n1");
});

Deno.test("findOsInstallDevice() never chooses a skip-listed device", async () => {
  const node = {
    uuid: "u",
    properties: { root_device: { rotational: false }, skip_block_devices: [{ name: "/dev/sda" }] },
  };
  const chosen = await findOsInstallDevice(server(), { log, node, onlyBlockDevices: [] });
  assert.equal(chosen.name, "/dev/nvme0n1");
});

Deno.test("findOsInstallDevice() chooses only among onlyBlockDevices", async () => {
  const chosen = await findOsInstallDevice(server(), {
    log,
    node: null,
    onlyBlockDevices: ["/dev/nvme1n1"],
  });
  assert.equal(chosen.name, "/dev/nvme1n1");
  await assert.rejects(
    findOsInstallDevice(server(), {
      log,
      node: { uuid: "u", properties: { root_device: { name: "/dev/sda" } } },
      onlyBlockDevices: ["/dev/nvme1n1"],
    }),
    DeviceNotFound,
  );
});

Deno.test("rootDeviceHintsForDeploy() turns invalid hints into DeviceNotFound", () => {
  const node = { uuid: "u", properties: { root_device: { tran: "nvme" } } };
  assert.throws(
    () => rootDeviceHintsForDeploy(node),
    (err: unknown) =>
      err instanceof DeviceNotFound &&
      err.details.startsWith(
        'No devices could be found using the root device hints {"tran":"nvme"} because they ' +
          'failed to validate. Error: Invalid root device hint "tran"',
      ),
  );
  assert.equal(rootDeviceHintsForDeploy({ uuid: "u" }), null);
});
