import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { InvalidRootDeviceHintError } from "./root_device.ts";
import { device } from "./_test_devices.ts";
import { applySkipList, findSkippedDevices, getSkipList } from "./skip_list.ts";

const GiB = 2 ** 30;
const log = new Logger({ test: "skip_list" });
const devices = [
  device("/dev/sda", { size: 500 * GiB, serial: "A1", serials: ["A1", null, null] }),
  device("/dev/sdb", { size: 4000 * GiB, rotational: true }),
  device("/dev/sdc", { size: 4000 * GiB, rotational: true }),
];

Deno.test("getSkipList() separates hint dicts from RAID volume names", () => {
  const skip = getSkipList({
    uuid: "u",
    properties: {
      skip_block_devices: [{ name: "/dev/sdb" }, { volume_name: "data" }, {}, { size: ">= 1" }],
    },
  });
  assert.equal(skip.hints.length, 2);
  assert.deepEqual(skip.volumeNames, ["data"]);
  assert.deepEqual(getSkipList({ uuid: "u" }), { hints: [], volumeNames: [] });
  assert.deepEqual(getSkipList(null), { hints: [], volumeNames: [] });
});

Deno.test("getSkipList() refuses entries it cannot understand", async (t) => {
  const bad: unknown[] = [
    "sda",
    [["/dev/sda"]],
    [{ name: "/dev/sda", colour: "red" }],
    [{ volume_name: 5 }],
    [{ size: "big" }],
  ];
  for (const value of bad) {
    await t.step(JSON.stringify(value), () => {
      assert.throws(
        () => getSkipList({ uuid: "u", properties: { skip_block_devices: value } }),
        InvalidRootDeviceHintError,
      );
    });
  }
});

Deno.test("applySkipList() removes every device matching any hint", () => {
  const skip = getSkipList({
    uuid: "u",
    properties: { skip_block_devices: [{ serial: "a1" }, { rotational: true, name: "/dev/sdc" }] },
  });
  assert.deepEqual(applySkipList(devices, skip, log).map((d) => d.name), ["/dev/sdb"]);
  assert.deepEqual(
    findSkippedDevices(devices, skip, log).map((d) => d.name),
    ["/dev/sda", "/dev/sdc"],
  );
  const none = getSkipList({ uuid: "u", properties: { skip_block_devices: [] } });
  assert.equal(applySkipList(devices, none, log).length, 3);
});
