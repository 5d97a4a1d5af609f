import assert from "node:assert/strict";
import { BlockDeviceError } from "../api/errors.ts";
import { emptySysfs, fakeRunner, type Handler, testdata } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import {
  listBlockDevices,
  LSBLK_ARGS,
  parseLsblk,
  type ParseLsblkOptions,
  parseUdevProperties,
} from "./block_devices.ts";
import { lsblkEntry } from "./_test_lsblk.ts";

const log = new Logger({ test: "block_devices" });

function names(json: string, options: ParseLsblkOptions): string[] {
  return parseLsblk(json, options).map((d) => d.name);
}

Deno.test("parseLsblk() filters a real util-linux 2.38 listing (Debian 12, loops attached)", () => {
  const json = testdata("lsblk/debian12-2.38-machine.json");
  // zram0 is a size-0 "disk", loops are never inventory by default.
  assert.deepEqual(names(json, { blockType: "disk" }), ["/dev/vda"]);
  assert.deepEqual(names(json, { blockType: "part" }), [
    "/dev/loop1p1",
    "/dev/loop1p2",
    "/dev/loop2p1",
    "/dev/loop2p2",
  ]);
});

Deno.test("parseLsblk() with onlyBlockDevices admits exactly the named devices, loops too", () => {
  const json = testdata("lsblk/debian12-2.38-machine.json");
  const only = ["/dev/loop2", "/dev/loop1", "/dev/loop1p2", "/dev/sdz"];
  const disks = parseLsblk(json, { blockType: "disk", onlyBlockDevices: only });
  assert.deepEqual(disks.map((d) => [d.name, d.type, d.size]), [
    ["/dev/loop1", "loop", 67108864],
    ["/dev/loop2", "loop", 67108864],
  ]);
  assert.equal(disks[1]!.logicalSectors, 4096);
  assert.deepEqual(names(json, { blockType: "part", onlyBlockDevices: only }), ["/dev/loop1p2"]);
  // vda is a real disk, but it is not in the list.
  assert.deepEqual(names(json, { blockType: "disk", onlyBlockDevices: ["/dev/loop1p1"] }), []);
  // Size-0 devices stay out even when named (an unattached loop).
  assert.deepEqual(names(json, { blockType: "disk", onlyBlockDevices: ["/dev/loop7"] }), []);
});

Deno.test("parseLsblk() keeps disks, NVMe namespaces and USB; drops rom, floppy, ram, lvm", () => {
  const json = testdata("lsblk/server-2.38-hand.json");
  const disks = parseLsblk(json, { blockType: "disk" });
  assert.deepEqual(disks.map((d) => d.name), [
    "/dev/sda",
    "/dev/sdb",
    "/dev/sdc",
    "/dev/nvme0n1",
    "/dev/nvme1n1",
  ]);
  assert.deepEqual(disks[0], {
    kname: "sda",
    name: "/dev/sda",
    model: "INTEL SSDSC2KB240G8",
    size: 240057409536,
    rotational: false,
    type: "disk",
    uuid: null,
    partuuid: null,
    serial: "PHYF812345678240AGN",
    wwn: "0x55cd2e414e1a1b2c",
    logicalSectors: 512,
    physicalSectors: 4096,
    tran: "sata",
  });
  const nvme1 = disks[4]!;
  assert.equal(nvme1.logicalSectors, 4096, "4K-native namespace");
  assert.equal(disks[2]!.tran, "usb");
  assert.deepEqual(names(json, { blockType: "part" }), [
    "/dev/sda1",
    "/dev/sda2",
    "/dev/sda3",
    "/dev/sdc1",
    "/dev/nvme0n1p1",
  ]);
});

Deno.test("parseLsblk() lists a multipath map once, next to its paths", () => {
  const json = testdata("lsblk/multipath-2.38-hand.json");
  const disks = parseLsblk(json, { blockType: "disk" });
  assert.deepEqual(disks.map((d) => [d.name, d.type]), [
    ["/dev/sda", "disk"],
    ["/dev/sdb", "disk"],
    ["/dev/dm-0", "mpath"],
    ["/dev/nvme0n1", "disk"],
  ]);
  assert.deepEqual(names(json, { blockType: "part" }), ["/dev/dm-1"]);
});

Deno.test("parseLsblk() lists an md RAID-1 once and its md partition with partitions", () => {
  const json = testdata("lsblk/md-raid1-2.38-hand.json");
  assert.deepEqual(names(json, { blockType: "disk" }), ["/dev/sda", "/dev/md127", "/dev/sdb"]);
  assert.deepEqual(names(json, { blockType: "part" }), [
    "/dev/sda1",
    "/dev/md127p1",
    "/dev/sdb1",
  ]);
});

Deno.test("parseLsblk() reads old util-linux output where every value is a string", () => {
  const disks = parseLsblk(testdata("lsblk/centos8-2.32-strings-hand.json"), {
    blockType: "disk",
  });
  assert.deepEqual(
    disks.map((d) => [d.name, d.size, d.rotational, d.logicalSectors, d.physicalSectors]),
    [
      ["/dev/sda", 480103981056, false, 512, 4096],
      ["/dev/sdb", 2000398934016, true, 512, 4096],
    ],
  );
});

Deno.test("parseLsblk() keeps empty serials and WWNs for udev to fill", () => {
  const disks = parseLsblk(testdata("lsblk/empty-serials-2.38-hand.json"), { blockType: "disk" });
  assert.deepEqual(disks.map((d) => [d.name, d.serial, d.wwn, d.model, d.tran]), [
    ["/dev/vda", null, null, null, null],
    ["/dev/sda", null, "0x61866da0a1b2c3002a1b2c3d4e5f6071", "PERC H730P Mini", null],
    ["/dev/sdb", "", "", "QEMU HARDDISK", "sata"],
  ]);
});

Deno.test("parseLsblk() reports a missing column as BlockDeviceError", () => {
  assert.throws(
    () => parseLsblk(testdata("lsblk/missing-tran-hand.json"), { blockType: "disk" }),
    (err: unknown) =>
      err instanceof BlockDeviceError &&
      err.details === 'lsblk did not return the column(s) "tran" for device "/dev/sda"',
  );
});

Deno.test("parseLsblk() rejects output it cannot read", async (t) => {
  const cases: [string, RegExp][] = [
    ["not json", /Cannot parse the output of lsblk as JSON/],
    ['{"devices": []}', /no "blockdevices" list/],
    [
      JSON.stringify({ blockdevices: [lsblkEntry("sda", "disk", { size: "big", rota: "0" })] }),
      /lsblk returned size "big" for device "sda", which is not a whole number/,
    ],
  ];
  for (const [json, message] of cases) {
    await t.step(message.source, () => {
      assert.throws(
        () => parseLsblk(json, { blockType: "disk" }),
        (err: unknown) => err instanceof BlockDeviceError && message.test(err.details),
      );
    });
  }
});

Deno.test("parseLsblk() flattens a children tree if lsblk prints one", () => {
  const json = JSON.stringify({
    blockdevices: [lsblkEntry("sda", "disk", { children: [lsblkEntry("sda1", "part")] })],
  });
  assert.deepEqual(names(json, { blockType: "part" }), ["/dev/sda1"]);
});

Deno.test("parseUdevProperties() splits batched udevadm output by device", () => {
  const real = parseUdevProperties(testdata("udev/systemd252-batch.txt"));
  assert.deepEqual([...real.keys()], ["/dev/loop1", "/dev/loop1p1", "/dev/vda"]);
  assert.equal(real.get("/dev/loop1p1")!.DEVTYPE, "partition");
  const blank = parseUdevProperties(testdata("udev/systemd255-multipath-blanklines-hand.txt"));
  assert.deepEqual([...blank.keys()], ["/dev/sda", "/dev/sdb", "/dev/dm-0", "/dev/dm-1"]);
  assert.equal(blank.get("/dev/dm-0")!.DM_WWN, "0x600a098038303053453f463045727a6b");
});

/** Answers for the server sample: lsblk, udev, vendor files, SCSI addresses, by-path links. */
const serverMachine: Handler = (line, cmd, args) => {
  if (line === "udevadm settle") return "";
  if (cmd === "lsblk" && line === ["lsblk", ...LSBLK_ARGS].join(" ")) {
    return testdata("lsblk/server-2.38-hand.json");
  }
  if (cmd === "udevadm" && args[0] === "info") {
    const wanted = new Set(args.filter((a) => a.startsWith("--name=")).map((a) => a.slice(7)));
    const all = parseUdevProperties(testdata("udev/systemd252-server-batch-hand.txt"));
    return [...all.entries()]
      .filter(([name]) => wanted.has(name))
      .map(([, props]) => Object.entries(props).map(([k, v]) => `${k}=${v}\n`).join(""))
      .join("");
  }
  if (cmd === "grep") {
    const vendors: Record<string, string> = { sda: "ATA     ", sdb: "SEAGATE ", sdc: "SanDisk " };
    return args
      .map((path) => /^\/sys\/class\/block\/(\w+)\/device\/vendor$/.exec(path)?.[1])
      .filter((k): k is string => k !== undefined && k in vendors)
      .map((k) => `/sys/class/block/${k}/device/vendor:${vendors[k]}\n`)
      .join("");
  }
  if (cmd === "find" && args[0] === "/dev/disk/by-path") {
    return [
      "pci-0000:00:17.0-ata-1",
      "pci-0000:00:17.0-ata-1.0",
      "pci-0000:01:00.0-sas-phy1-lun-0",
      "pci-0000:00:14.0-usb-0:4:1.0-scsi-0:0:0:0",
      "pci-0000:3b:00.0-nvme-1",
      "pci-0000:3b:00.0-nvme-1-part1",
      "pci-0000:5e:00.0-nvme-1",
    ].join("\n") + "\n";
  }
  if (cmd === "find") {
    const hctl: Record<string, string> = { sda: "0:0:0:0", sdb: "1:0:0:0", sdc: "6:0:0:0" };
    const k = /^\/sys\/block\/(\w+)\/device\/scsi_device$/.exec(args[0] ?? "")?.[1];
    return k && hctl[k] ? `${hctl[k]}\n` : { code: 1, stdout: "" };
  }
  return undefined;
};

Deno.test("listBlockDevices() merges lsblk, udev and sysfs into the wire shape", async () => {
  const runner = fakeRunner(serverMachine, emptySysfs);
  const devices = await listBlockDevices(runner, { onlyBlockDevices: [], log });
  assert.equal(runner.calls[0], "udevadm settle");
  assert.equal(
    runner.calls[1],
    "lsblk -bia --json -oKNAME,MODEL,SIZE,ROTA,TYPE,UUID,PARTUUID,SERIAL,WWN,LOG-SEC,PHY-SEC,TRAN",
  );
  // One udevadm for every device, one grep for every vendor file.
  assert.equal(runner.calls.filter((c) => c.startsWith("udevadm info")).length, 1);
  assert.equal(runner.calls.filter((c) => c.startsWith("grep")).length, 1);
  assert.deepEqual(devices.map((d) => d.name), [
    "/dev/sda",
    "/dev/sdb",
    "/dev/sdc",
    "/dev/nvme0n1",
    "/dev/nvme1n1",
  ]);
  assert.deepEqual(devices[0], {
    name: "/dev/sda",
    model: "INTEL SSDSC2KB240G8",
    size: 240057409536,
    rotational: false,
    wwn: "0x55cd2e414e1a1b2c",
    serial: "PHYF812345678240AGN",
    vendor: "ATA",
    wwn_with_extension: "0x55cd2e414e1a1b2c",
    wwn_vendor_extension: null,
    hctl: "0:0:0:0",
    by_path: "/dev/disk/by-path/pci-0000:00:17.0-ata-1",
    logical_sectors: 512,
    physical_sectors: 4096,
    tran: "sata",
    uuid: null,
    partuuid: null,
    type: "disk",
  });
  const sdb = devices[1]!;
  assert.equal(sdb.wwn_vendor_extension, "0x0000000000000001");
  assert.equal(sdb.wwn_with_extension, "0x5000c500a1b2c3d40000000000000001");
  assert.equal(sdb.vendor, "SEAGATE");
  const nvme = devices[3]!;
  assert.equal(nvme.vendor, null, "NVMe has no vendor file");
  assert.equal(nvme.hctl, null);
  assert.equal(nvme.by_path, "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1");
  assert.equal(nvme.serials, undefined, "lists only in all-values mode");
});

Deno.test("listBlockDevices() collects every serial and WWN in all-values mode", async () => {
  const runner = fakeRunner(serverMachine, emptySysfs);
  const devices = await listBlockDevices(runner, { onlyBlockDevices: [], allValues: true, log });
  const sda = devices.find((d) => d.name === "/dev/sda")!;
  assert.deepEqual(sda.serials, [
    "PHYF812345678240AGN",
    "PHYF812345678240AGN",
    "INTEL_SSDSC2KB240G8_PHYF812345678240AGN",
  ]);
  assert.deepEqual(sda.wwns, ["0x55cd2e414e1a1b2c", "0x55cd2e414e1a1b2c"]);
  const sdb = devices.find((d) => d.name === "/dev/sdb")!;
  assert.deepEqual(sdb.serials, ["ZC1ABCDE", "5000c500a1b2c3d4", "35000c500a1b2c3d4"]);
});

Deno.test("listBlockDevices() lists partitions after disks", async () => {
  const runner = fakeRunner(serverMachine, emptySysfs);
  const devices = await listBlockDevices(runner, {
    onlyBlockDevices: [],
    includePartitions: true,
    log,
  });
  assert.deepEqual(devices.map((d) => [d.name, d.type]).slice(5), [
    ["/dev/sda1", "part"],
    ["/dev/sda2", "part"],
    ["/dev/sda3", "part"],
    ["/dev/sdc1", "part"],
    ["/dev/nvme0n1p1", "part"],
  ]);
  const part = devices.find((d) => d.name === "/dev/nvme0n1p1")!;
  assert.equal(part.by_path, "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1-part1");
  assert.equal(part.uuid, "9e0b6f2a-5d3c-4b1a-8e7f-6a5b4c3d2e1f");
  assert.equal(part.hctl, null);
  // No SCSI-address lookup for partitions.
  assert.ok(!runner.calls.some((c) => c.includes("/sys/block/sda1/")));
});

Deno.test("listBlockDevices() with onlyBlockDevices never looks at other devices", async () => {
  const runner = fakeRunner(serverMachine, emptySysfs);
  const devices = await listBlockDevices(runner, {
    onlyBlockDevices: ["/dev/sdb", "/dev/sdz"],
    includePartitions: true,
    log,
  });
  assert.deepEqual(devices.map((d) => d.name), ["/dev/sdb"]);
  const touched = runner.calls.filter((c) => /sda|sdc|nvme/.test(c) && !c.startsWith("find /dev"));
  assert.deepEqual(touched, []);
});

Deno.test("listBlockDevices() drops multipath paths in favour of the map", async () => {
  const runner = fakeRunner((line, cmd, args) => {
    if (line === "udevadm settle") return "";
    if (cmd === "lsblk") return testdata("lsblk/multipath-2.38-hand.json");
    if (cmd === "udevadm") return testdata("udev/systemd255-multipath-blanklines-hand.txt");
    if (line === "multipath -c /dev/sda" || line === "multipath -c /dev/sdb") {
      return `${args[1]} is a valid multipath device path\n`;
    }
    if (line.startsWith("multipath -c")) return { code: 1, stdout: "" };
    if (line.startsWith("multipath -ll")) {
      return "3600a098038303053453f463045727a6b dm-0 NETAPP,LUN C-Mode\n" +
        "size=100G features='3 queue_if_no_path pg_init_retries 50' hwhandler='1 alua' wp=rw\n" +
        "`-+- policy='service-time 0' prio=50 status=active\n" +
        "  |- 3:0:0:1 sda 8:0  active ready running\n" +
        "  `- 4:0:0:1 sdb 8:16 active ready running\n";
    }
    return undefined;
  }, emptySysfs);
  const devices = await listBlockDevices(runner, { onlyBlockDevices: [], allValues: true, log });
  assert.deepEqual(devices.map((d) => d.name), ["/dev/dm-0", "/dev/nvme0n1"]);
  const map = devices[0]!;
  assert.equal(map.serial, "3600a098038303053453f463045727a6b", "from DM_SERIAL");
  assert.equal(map.wwn, "0x600a098038303053453f463045727a6b", "from DM_WWN");
  assert.deepEqual(map.serials, [null, null, "3600a098038303053453f463045727a6b"]);
  // The map itself is not asked about (only TYPE disk can be a path).
  assert.ok(!runner.calls.includes("multipath -c /dev/dm-0"));
});

Deno.test("listBlockDevices() asks multipath nothing when there is no map", async () => {
  const runner = fakeRunner(serverMachine, emptySysfs);
  await listBlockDevices(runner, { onlyBlockDevices: [], log });
  assert.ok(!runner.calls.some((c) => c.startsWith("multipath")));
});

Deno.test("listBlockDevices() asks udev per device when batching is not supported", async () => {
  const one = parseUdevProperties(testdata("udev/systemd252-server-batch-hand.txt"));
  const render = (name: string) =>
    Object.entries(one.get(name) ?? {}).map(([k, v]) => `${k}=${v}\n`).join("");
  const runner = fakeRunner((line, cmd, args) => {
    if (cmd === "udevadm" && args[0] === "info") {
      // An old udevadm honours only the last --name.
      const last = args.filter((a) => a.startsWith("--name=")).at(-1)!.slice(7);
      return render(last);
    }
    return serverMachine(line, cmd, args);
  }, emptySysfs);
  const devices = await listBlockDevices(runner, { onlyBlockDevices: [], log });
  assert.equal(runner.calls.filter((c) => c.startsWith("udevadm info")).length, 5);
  assert.equal(devices[1]!.wwn_with_extension, "0x5000c500a1b2c3d40000000000000001");
});

Deno.test("listBlockDevices() resolves by-path links itself when udev has no DEVLINKS", async () => {
  const runner = fakeRunner((line, cmd, args) => {
    if (cmd === "udevadm" && args[0] === "info") return "";
    if (cmd === "readlink") {
      const target: Record<string, string> = {
        "/dev/disk/by-path/pci-0000:00:17.0-ata-1": "/dev/sda",
        "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1": "/dev/nvme0n1",
      };
      const t = target[args.at(-1)!];
      return t ? `${t}\n` : { code: 1, stdout: "" };
    }
    return serverMachine(line, cmd, args);
  }, emptySysfs);
  const devices = await listBlockDevices(runner, { onlyBlockDevices: [], log });
  assert.equal(devices[0]!.by_path, "/dev/disk/by-path/pci-0000:00:17.0-ata-1");
  assert.equal(devices[3]!.by_path, "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1");
  assert.equal(devices[1]!.by_path, null);
  assert.equal(devices[0]!.wwn_with_extension, null, "no udev data at all");
});

Deno.test("listBlockDevices() still lists devices when udevadm is missing", async () => {
  const runner = fakeRunner((line, cmd, args) => {
    if (cmd === "udevadm") return new Error("udevadm: not found");
    return serverMachine(line, cmd, args);
  }, emptySysfs);
  const devices = await listBlockDevices(runner, { onlyBlockDevices: [], log });
  assert.equal(devices.length, 5);
  assert.equal(devices[2]!.serial, "4C530001230101117083", "lsblk SERIAL still there");
});
