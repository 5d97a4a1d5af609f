import assert from "node:assert/strict";
import { DeviceNotFound } from "../api/errors.ts";
import { Logger, setSink } from "../log.ts";
import {
  getRootDeviceHints,
  InvalidRootDeviceHintError,
  matchDevice,
  normalizeHintExpression,
  parseRootDeviceHints,
  type RootDeviceHints,
  selectRootDevice,
  urlQuote,
} from "./root_device.ts";
import { device } from "./_test_devices.ts";

const GiB = 2 ** 30;
const log = new Logger({ test: "root_device" });

function hints(raw: unknown): RootDeviceHints {
  const parsed = parseRootDeviceHints(raw);
  assert.ok(parsed, `hints ${JSON.stringify(raw)} parsed to null`);
  return parsed;
}

/** Runs `fn` with log lines captured. */
function captureLog<T>(fn: () => T): { result: T; lines: string[] } {
  const lines: string[] = [];
  const restore = setSink((line) => lines.push(line));
  try {
    return { result: fn(), lines };
  } finally {
    restore();
  }
}

// The machine of spec 07 §6.
const sda = device("/dev/sda", {
  model: "INTEL SSDSC2KB240G8",
  size: 240_057_409_536,
  rotational: false,
  serial: "PHYF812345678240AGN",
  serials: [
    "PHYF812345678240AGN",
    "PHYF812345678240AGN",
    "INTEL_SSDSC2KB240G8_PHYF812345678240AGN",
  ],
  wwn: "0x55cd2e414e1a1b2c",
  wwns: ["0x55cd2e414e1a1b2c", "0x55cd2e414e1a1b2c"],
  vendor: "ATA",
  hctl: "0:0:0:0",
  by_path: "/dev/disk/by-path/pci-0000:00:17.0-ata-1",
  tran: "sata",
});
const sdb = device("/dev/sdb", {
  model: "ST4000NM0035-1V4107",
  size: 4_000_787_030_016,
  rotational: true,
  serial: "ZC1ABCDE",
  wwn_with_extension: "0x5000c500a1b2c3d40000000000000001",
  wwn_vendor_extension: "0x0000000000000001",
  vendor: "SEAGATE",
  hctl: "1:0:0:0",
});
const sdc = device("/dev/sdc", { model: "Cruzer Blade", size: 2 * GiB, rotational: true });
const nvme = device("/dev/nvme0n1", {
  model: "SAMSUNG MZQLB960HAJR-00007",
  size: 960_197_124_096,
  serial: "S3EVNX0M123456",
  serials: ["S3EVNX0M123456", "S3EVNX0M123456", "SAMSUNG MZQLB960HAJR-00007_S3EVNX0M123456"],
  wwns: [null, "eui.33455630526001230025384500000001"],
});
const machine = [sda, sdb, sdc];

Deno.test("selectRootDevice() reproduces every example of spec 07 §6", async (t) => {
  await t.step("no hints: the smallest device of at least 4 GiB", () => {
    assert.equal(selectRootDevice(machine, null, log).name, "/dev/sda");
  });
  await t.step('{"size": ">= 1000"} picks the 4 TB disk', () => {
    assert.equal(selectRootDevice(machine, hints({ size: ">= 1000" }), log).name, "/dev/sdb");
  });
  await t.step('{"rotational": false, "model": "<in> intel"} picks sda', () => {
    const h = hints({ rotational: false, model: "<in> intel" });
    assert.equal(selectRootDevice(machine, h, log).name, "/dev/sda");
  });
  await t.step('{"serial": "s== s3evnx0m123456"} matches a collected serial', () => {
    const h = hints({ serial: "s== s3evnx0m123456" });
    assert.equal(selectRootDevice([...machine, nvme], h, log).name, "/dev/nvme0n1");
  });
  await t.step('{"name": "/dev/sdz"} finds nothing', () => {
    assert.throws(
      () => selectRootDevice(machine, hints({ name: "/dev/sdz" }), log),
      DeviceNotFound,
    );
  });
  await t.step('{"size": 100} does not match 100 000 000 000 bytes (93.13 GiB)', () => {
    const small = device("/dev/sda", { size: 100_000_000_000 });
    assert.throws(() => selectRootDevice([small], hints({ size: 100 }), log), DeviceNotFound);
    const exact = device("/dev/sdb", { size: 100 * GiB });
    assert.equal(selectRootDevice([small, exact], hints({ size: 100 }), log).name, "/dev/sdb");
  });
});

Deno.test("selectRootDevice() without hints breaks size ties by name and needs 4 GiB", () => {
  const a = device("/dev/sdb", { size: 8 * GiB });
  const b = device("/dev/sda", { size: 8 * GiB });
  const tiny = device("/dev/sdc", { size: 4 * GiB - 1 });
  assert.equal(selectRootDevice([a, b, tiny], null, log).name, "/dev/sda");
  assert.equal(selectRootDevice([device("/dev/x", { size: 4 * GiB })], null, log).name, "/dev/x");
  assert.throws(
    () => selectRootDevice([tiny], null, log),
    (err: unknown) =>
      err instanceof DeviceNotFound &&
      err.details ===
        "No suitable device was found for deployment - root device hints were not provided " +
          "and all found block devices are smaller than 4294967296B.",
  );
  assert.throws(() => selectRootDevice([], null, log), DeviceNotFound);
});

Deno.test("selectRootDevice() names the hints and the candidates when nothing matches", () => {
  assert.throws(
    () => selectRootDevice(machine, hints({ name: "/dev/sdz" }), log),
    (err: unknown) => {
      assert.ok(err instanceof DeviceNotFound);
      assert.match(
        err.details,
        /^No suitable device was found for deployment using these hints \{"name":"\/dev\/sdz"\}/,
      );
      assert.match(err.details, /\/dev\/sda \(240057409536 bytes, model "INTEL SSDSC2KB240G8"/);
      assert.match(err.details, /\/dev\/sdc \(2147483648 bytes/);
      return true;
    },
  );
});

Deno.test("selectRootDevice() logs the chosen device and why", () => {
  const { result, lines } = captureLog(() =>
    selectRootDevice(machine, hints({ model: "<in> intel" }), log)
  );
  assert.equal(result.name, "/dev/sda");
  assert.ok(lines.some((l) => l.includes("device=/dev/sda") && l.includes("<in> intel")));
});

Deno.test("parseRootDeviceHints() normalises string hints like the conductor", async (t) => {
  const cases: [unknown, string][] = [
    ["Samsung SSD 860", "s== samsung%20ssd%20860"],
    ["  MiXeD  ", "s== mixed"],
    ["<in> Samsung", "<in> samsung"],
    ["s!= foo", "s!= foo"],
    ["<or> foo bar <or> baz", "<or> foo%20bar <or> baz"],
    [
      "/dev/disk/by-path/pci-0000:00:17.0-ata-1",
      "s== /dev/disk/by-path/pci-0000%3A00%3A17.0-ata-1",
    ],
    ["a_b.c-d~e", "s== a_b.c-d~e"],
    ["ü&?=", "s== %C3%BC%26%3F%3D"],
  ];
  for (const [value, expected] of cases) {
    await t.step(`${JSON.stringify(value)} -> ${expected}`, () => {
      assert.equal(hints({ model: value }).hints[0]!.expression, expected);
    });
  }
});

Deno.test("parseRootDeviceHints() accepts every valid key", () => {
  const parsed = hints({
    size: ">= 100",
    model: "m",
    wwn: "0x1",
    serial: "s",
    vendor: "v",
    wwn_with_extension: "0x2",
    wwn_vendor_extension: "0x3",
    name: "/dev/sda",
    rotational: "yes",
    hctl: "1:0:0:0",
    by_path: "/dev/disk/by-path/x",
  });
  assert.deepEqual(
    parsed.hints.map((h) => [h.key, h.expression]),
    [
      ["size", ">= 100"],
      ["model", "s== m"],
      ["wwn", "s== 0x1"],
      ["serial", "s== s"],
      ["vendor", "s== v"],
      ["wwn_with_extension", "s== 0x2"],
      ["wwn_vendor_extension", "s== 0x3"],
      ["name", "s== /dev/sda"],
      ["rotational", "true"],
      ["hctl", "s== 1%3A0%3A0%3A0"],
      ["by_path", "s== /dev/disk/by-path/x"],
    ],
  );
});

Deno.test("parseRootDeviceHints() returns null when there are no hints", () => {
  assert.equal(parseRootDeviceHints(null), null);
  assert.equal(parseRootDeviceHints(undefined), null);
  assert.equal(parseRootDeviceHints({}), null);
});

Deno.test("parseRootDeviceHints() rejects invalid hints naming the key and value", async (t) => {
  const cases: [unknown, string | null, RegExp][] = [
    [{ size: "abc" }, "size", /^Invalid root device hint "size": "abc" is not a positive integer$/],
    [{ size: 0 }, "size", /"size": 0 is not a positive integer/],
    [{ size: -5 }, "size", /"size": -5 is not a positive integer/],
    [{ size: 1.5 }, "size", /"size": 1.5 is not a positive integer/],
    [{ size: ">= ten" }, "size", /is not a positive integer/],
    [{ size: "<or> 10 <or> x" }, "size", /is not a positive integer/],
    [{ size: "<range-in> [ 20 10 ]" }, "size", /lower bound above its upper bound/],
    [{ size: "<range-in> [ 0 10 ]" }, "size", /is not a positive integer/],
    [{ size: true }, "size", /is not a positive integer/],
    [{ size: "" }, "size", /the expression is empty/],
    [{ rotational: "maybe" }, "rotational", /"rotational": "maybe" is not a Boolean/],
    [{ rotational: 2 }, "rotational", /is not a Boolean/],
    [{ rotational: null }, "rotational", /is not a Boolean/],
    [{ model: 123 }, "model", /^Invalid root device hint "model": 123 is not a string$/],
    [{ serial: "" }, "serial", /"serial": the expression is empty/],
    [{ vendor: "   " }, "vendor", /the expression is empty/],
    [{ model: "<in>" }, "model", /cannot be parsed/],
    [{ tran: "sata" }, "tran", /"tran": the Ironic conductor does not accept it/],
    [
      { foo: "bar" },
      "foo",
      /^Invalid root device hints "foo": unknown key; valid hints are "size"/,
    ],
    [{ size: 10, colour: "red", shape: "x" }, "colour", /"colour", "shape": unknown keys/],
    ["sda", null, /expected an object of hints/],
    [["/dev/sda"], null, /expected an object of hints/],
  ];
  for (const [raw, key, message] of cases) {
    await t.step(JSON.stringify(raw), () => {
      assert.throws(
        () => parseRootDeviceHints(raw),
        (err: unknown) =>
          err instanceof InvalidRootDeviceHintError && err.hint === key &&
          message.test(err.message),
      );
    });
  }
});

Deno.test("parseRootDeviceHints() parses size and rotational values", async (t) => {
  const sizes: [unknown, string][] = [
    [100, "== 100"],
    ["100", "== 100"],
    [" 100 ", "== 100"],
    [">= 400", ">= 400"],
    [">=400", ">=400"],
    ["= 100", "= 100"],
    ["<or> 100 <or> 200", "<or> 100 <or> 200"],
    ["<range-in> [ 10 20 )", "<range-in> [ 10 20 )"],
  ];
  for (const [value, expected] of sizes) {
    await t.step(`size ${JSON.stringify(value)}`, () => {
      assert.equal(hints({ size: value }).hints[0]!.expression, expected);
    });
  }
  const booleans: [unknown, boolean][] = [
    [true, true],
    [false, false],
    ["TRUE", true],
    ["yes", true],
    ["on", true],
    ["1", true],
    [1, true],
    ["t", true],
    ["y", true],
    ["false", false],
    ["No", false],
    ["off", false],
    [0, false],
    ["f", false],
    ["n", false],
  ];
  for (const [value, expected] of booleans) {
    await t.step(`rotational ${JSON.stringify(value)}`, () => {
      const hint = hints({ rotational: value }).hints[0]!;
      assert.ok(hint.kind === "boolean" && hint.value === expected);
    });
  }
});

Deno.test("matchDevice() applies every operator to device attributes", async (t) => {
  const disk = device("/dev/sdb", {
    model: "SAMSUNG SSD 860 ",
    size: 500 * GiB,
    rotational: false,
    vendor: "ATA",
    hctl: "2:0:0:0",
  });
  const cases: [Record<string, unknown>, boolean][] = [
    [{ model: "Samsung SSD 860" }, true], // trailing blanks of the device value are trimmed
    [{ model: "<in> samsung" }, true],
    [{ model: "<in> intel" }, false],
    [{ model: "s== samsung ssd 860" }, true],
    [{ model: "s!= samsung ssd 860" }, false],
    [{ model: "<or> intel <or> samsung ssd 860" }, true],
    [{ model: "s< samsung ssd 861" }, true],
    [{ model: "s<= samsung ssd 860" }, true],
    [{ model: "s> samsung ssd 859" }, true],
    [{ model: "s>= samsung ssd 861" }, false],
    [{ size: 500 }, true],
    [{ size: "== 500" }, true],
    [{ size: "!= 500" }, false],
    [{ size: "> 499" }, true],
    [{ size: ">= 501" }, false],
    [{ size: "< 501" }, true],
    [{ size: "<= 499" }, false],
    [{ size: "= 400" }, true], // legacy "=" is ">="
    [{ size: "= 600" }, false],
    [{ size: "<range-in> [ 500 600 )" }, true],
    [{ size: "<range-in> ( 500 600 )" }, false],
    [{ size: "<or> 500 <or> 600" }, false], // never works for size
    [{ rotational: false }, true],
    [{ rotational: "true" }, false],
    [{ vendor: "ata" }, true],
    [{ hctl: "2:0:0:0" }, true],
    [{ name: "/dev/sdb" }, true],
    [{ name: "sdb" }, false],
    [{ name: "<in> sd" }, true],
    [{ wwn: "none" }, true], // a null attribute is compared as "none"
    [{ by_path: "none" }, true],
    [{ model: "<in> samsung", size: ">= 400", rotational: false }, true],
    [{ model: "<in> samsung", size: ">= 600" }, false],
  ];
  for (const [raw, expected] of cases) {
    await t.step(JSON.stringify(raw), () => {
      assert.equal(matchDevice(hints(raw), disk), expected);
    });
  }
});

Deno.test("matchDevice() matches any collected serial or WWN, none when all are null", () => {
  assert.ok(matchDevice(hints({ serial: "samsung mzqlb960hajr-00007_s3evnx0m123456" }), nvme));
  assert.ok(matchDevice(hints({ serial: "S3EVNX0M123456" }), nvme));
  assert.ok(matchDevice(hints({ wwn: "eui.33455630526001230025384500000001" }), nvme));
  assert.ok(!matchDevice(hints({ wwn: "none" }), nvme), "null entries are dropped");
  const bare = device("/dev/vda", { size: 10 * GiB, serials: [null, null, null], wwns: [null] });
  assert.ok(!matchDevice(hints({ serial: "none" }), bare));
  assert.ok(!matchDevice(hints({ serial: "<in> a" }), bare));
  // Without lists (inventory mode), the single value is used.
  assert.ok(matchDevice(hints({ serial: "zc1abcde" }), sdb));
});

Deno.test("matchDevice() skips a device whose attribute is empty", () => {
  const blank = device("/dev/sda", { model: "  ", size: 10 * GiB });
  assert.ok(!matchDevice(hints({ model: "<in> a" }), blank));
  assert.ok(!matchDevice(hints({ model: "s!= foo" }), blank));
});

Deno.test("normalizeHintExpression() and urlQuote() follow urllib.parse.quote", () => {
  assert.equal(urlQuote("a b/c:d"), "a%20b/c%3Ad");
  assert.equal(urlQuote("~_.-"), "~_.-");
  assert.equal(urlQuote("!*'()"), "%21%2A%27%28%29");
  assert.equal(normalizeHintExpression("SAMSUNG SSD 860 "), "samsung%20ssd%20860");
  assert.equal(normalizeHintExpression(null), "none");
  assert.throws(() => normalizeHintExpression(""));
});

Deno.test("getRootDeviceHints() prefers instance_info over properties", () => {
  const fromProps = { size: ">= 10" };
  const fromInstance = { name: "/dev/sdb" };
  assert.deepEqual(
    getRootDeviceHints({
      uuid: "u",
      instance_info: { root_device: fromInstance },
      properties: { root_device: fromProps },
    }),
    fromInstance,
  );
  assert.deepEqual(
    getRootDeviceHints({
      uuid: "u",
      instance_info: { root_device: {} },
      properties: { root_device: fromProps },
    }),
    fromProps,
  );
  assert.deepEqual(
    getRootDeviceHints({ uuid: "u", properties: { root_device: fromProps } }),
    fromProps,
  );
  assert.equal(getRootDeviceHints({ uuid: "u" }), null);
  assert.equal(getRootDeviceHints(null), null);
});
