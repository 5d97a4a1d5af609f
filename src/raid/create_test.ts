import assert from "node:assert/strict";
import { ProtectedDeviceError, SoftwareRAIDError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import { Logger } from "../log.ts";
import { simulateMachine } from "./_test_machine.ts";
import { protectedRaidDevices } from "./arrays.ts";
import { createConfiguration, type RaidOptions } from "./create.ts";
import { deleteConfiguration } from "./delete.ts";
import { createRaidState } from "./state.ts";

const log = new Logger({ test: "raid" });
const DISKS = ["/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"];

function raidNode(logicalDisks: unknown[], extra: Partial<Node> = {}): Node {
  return { uuid: "node-1", target_raid_config: { logical_disks: logicalDisks }, ...extra };
}

const ROOT_AND_DATA = [
  {
    size_gb: 10,
    raid_level: "1",
    controller: "software",
    volume_name: "root",
    is_root_volume: true,
  },
  { size_gb: "MAX", raid_level: "5", controller: "software", volume_name: "data" },
];

function options(sim: ReturnType<typeof simulateMachine>, node: Node): RaidOptions {
  return { runner: sim.runner, log, node, onlyBlockDevices: [], state: createRaidState() };
}

function writes(calls: string[]): string[] {
  return calls.filter((c) => /^(parted|sgdisk|mdadm --(create|stop|zero)|wipefs)/.test(c));
}

Deno.test("createConfiguration() partitions every holder and builds RAID 1 and RAID 5 (BIOS)", async () => {
  const sim = simulateMachine(DISKS.slice(0, 3));
  const node = raidNode(ROOT_AND_DATA);
  const opts = options(sim, node);
  const result = await createConfiguration(opts, node.target_raid_config);
  assert.deepEqual(result, node.target_raid_config);
  const perDisk = (d: string) => [
    `parted ${d} -s -- mklabel msdos`,
    `sgdisk -F ${d}`,
    `parted ${d} -s -a optimal -- mkpart primary 2048s 10GiB`,
    `parted ${d} -s -a optimal -- mkpart primary 10GiB -1`,
  ];
  assert.deepEqual(writes(sim.runner.calls), [
    ...perDisk("/dev/sda"),
    ...perDisk("/dev/sdb"),
    ...perDisk("/dev/sdc"),
    "mdadm --create /dev/md0 --force --run --metadata=1 --level 1 --name root --raid-devices 3 " +
    "/dev/sda1 /dev/sdb1 /dev/sdc1",
    "mdadm --create /dev/md1 --force --run --metadata=1 --level 5 --name data --raid-devices 3 " +
    "/dev/sda2 /dev/sdb2 /dev/sdc2",
  ]);
  assert.equal(opts.state.rootVolume, "/dev/md0");
  assert.ok(opts.state.otherDevices.includes("/dev/md1"));
});

Deno.test("createConfiguration() leaves room for an ESP on UEFI and maps 1+0 to RAID 10", async () => {
  const sim = simulateMachine(DISKS, { uefi: true });
  const node = raidNode([
    { size_gb: 10, raid_level: "1", controller: "software" },
    { size_gb: 20, raid_level: "1+0", controller: "software" },
  ]);
  await createConfiguration(options(sim, node), node.target_raid_config);
  assert.equal(sim.labels.get("/dev/sdd"), "gpt");
  assert.ok(
    sim.runner.calls.includes("parted /dev/sdd -s -a optimal -- mkpart primary 551MiB 10GiB"),
  );
  assert.ok(
    sim.runner.calls.includes("parted /dev/sdd -s -a optimal -- mkpart primary 10GiB 30GiB"),
  );
  assert.deepEqual(sim.arrays.get("/dev/md1"), {
    name: "md1",
    level: "10",
    members: ["/dev/sda2", "/dev/sdb2", "/dev/sdc2", "/dev/sdd2"],
  });
});

Deno.test("createConfiguration() picks one disk per physical_disks hint", async () => {
  const sim = simulateMachine(DISKS);
  const node = raidNode([{
    size_gb: "MAX",
    raid_level: "1",
    controller: "software",
    physical_disks: [{ serial: "SERIAL-sdc" }, { name: "/dev/sda" }],
  }]);
  await createConfiguration(options(sim, node), node.target_raid_config);
  assert.deepEqual(sim.arrays.get("/dev/md0")!.members, ["/dev/sdc1", "/dev/sda1"]);
  assert.ok(
    !writes(sim.runner.calls).some((c) => c.includes("/dev/sdb") || c.includes("/dev/sdd")),
  );
});

Deno.test("createConfiguration() refuses before writing anything", async (t) => {
  await t.step("an invalid configuration, with every problem named", async () => {
    const sim = simulateMachine(DISKS);
    const node = raidNode([
      { size_gb: "MAX", raid_level: "5", controller: "software" },
      { size_gb: "MAX", raid_level: "7", controller: "software" },
    ]);
    await assert.rejects(
      createConfiguration(options(sim, node), node.target_raid_config),
      (err) => {
        assert.ok(err instanceof SoftwareRAIDError);
        assert.match(err.details, /^Could not validate Software RAID config for node-1: /);
        assert.match(err.details, /first logical disk must be RAID "1"/);
        assert.match(err.details, /raid_level "7" is not one of/);
        assert.match(err.details, /only one logical disk may have size_gb "MAX"/);
        return true;
      },
    );
    assert.deepEqual(writes(sim.runner.calls), []);
  });
  await t.step("partitions already on a holder", async () => {
    const sim = simulateMachine(DISKS.slice(0, 2));
    sim.partitions.set("/dev/sdb", ["/dev/sdb1"]);
    const node = raidNode([ROOT_AND_DATA[0]]);
    await assert.rejects(
      createConfiguration(options(sim, node), node.target_raid_config),
      /Partitions detected on devices \/dev\/sdb \(\/dev\/sdb1\) during RAID config/,
    );
    assert.deepEqual(writes(sim.runner.calls), []);
  });
  await t.step("too few disks for RAID 5", async () => {
    const sim = simulateMachine(DISKS.slice(0, 2));
    const node = raidNode(ROOT_AND_DATA);
    await assert.rejects(
      createConfiguration(options(sim, node), node.target_raid_config),
      /logical disk 1 \(RAID 5\): it needs at least 3 disks, 2 available/,
    );
    assert.deepEqual(writes(sim.runner.calls), []);
  });
  await t.step("a holder outside the --protect-host fence", async () => {
    const sim = simulateMachine(DISKS.slice(0, 2));
    const node = raidNode([ROOT_AND_DATA[0]]);
    const fence = { protectHost: true, onlyBlockDevices: ["/dev/sda"] };
    await assert.rejects(
      createConfiguration({ ...options(sim, node), fence }, node.target_raid_config),
      ProtectedDeviceError,
    );
    assert.deepEqual(writes(sim.runner.calls), []);
  });
});

Deno.test("createConfiguration() without software logical disks does nothing", async () => {
  const sim = simulateMachine(DISKS);
  const config = { logical_disks: [{ size_gb: 10, raid_level: "1", controller: "megaraid" }] };
  assert.deepEqual(await createConfiguration(options(sim, raidNode([])), config), {});
  assert.deepEqual(writes(sim.runner.calls), []);
});

Deno.test("deleteConfiguration() stops arrays, zeroes superblocks and wipes holders", async () => {
  const sim = simulateMachine(DISKS.slice(0, 3));
  const node = raidNode(ROOT_AND_DATA);
  const opts = options(sim, node);
  await createConfiguration(opts, node.target_raid_config);
  sim.runner.calls.length = 0;
  await deleteConfiguration(opts);
  assert.equal(sim.arrays.size, 0);
  assert.equal(sim.superblocks.size, 0);
  assert.deepEqual([...sim.partitions.values()], [[], [], []]);
  const calls = writes(sim.runner.calls);
  assert.deepEqual(calls.slice(0, 3), [
    "wipefs -af /dev/md0",
    "mdadm --stop /dev/md0",
    "mdadm --zero-superblock /dev/sda1",
  ]);
  assert.deepEqual(calls.slice(-3), [
    "wipefs -af /dev/sda",
    "wipefs -af /dev/sdb",
    "wipefs -af /dev/sdc",
  ]);
  assert.equal(opts.state.rootVolume, null);
});

Deno.test("deleteConfiguration() keeps a volume named in the skip list and wipes its neighbour", async () => {
  const sim = simulateMachine(DISKS.slice(0, 3));
  const create = raidNode(ROOT_AND_DATA);
  await createConfiguration(options(sim, create), create.target_raid_config);
  sim.runner.calls.length = 0;
  const node = { ...create, properties: { skip_block_devices: [{ volume_name: "data" }] } };
  await deleteConfiguration(options(sim, node));
  // root shares its disks with the kept "data": its data is wiped, the array stays.
  assert.deepEqual([...sim.arrays.keys()], ["/dev/md0", "/dev/md1"]);
  assert.deepEqual(writes(sim.runner.calls), ["wipefs -af /dev/md0"]);
  assert.equal(sim.superblocks.size, 6);
});

Deno.test("createConfiguration() with a kept volume recreates only the others", async () => {
  const sim = simulateMachine(DISKS.slice(0, 3));
  sim.arrays.set("/dev/md0", {
    name: "data",
    level: "5",
    members: ["/dev/sda1", "/dev/sdb1", "/dev/sdc1"],
  });
  for (const d of ["a", "b", "c"]) sim.partitions.set(`/dev/sd${d}`, [`/dev/sd${d}1`]);
  const node = raidNode(
    [ROOT_AND_DATA[0], { ...ROOT_AND_DATA[1], size_gb: 50 }],
    { properties: { skip_block_devices: [{ volume_name: "data" }] } },
  );
  await createConfiguration(options(sim, node), node.target_raid_config);
  assert.ok(!sim.runner.calls.some((c) => c.includes("mklabel")));
  assert.deepEqual(sim.arrays.get("/dev/md1"), {
    name: "root",
    level: "1",
    members: ["/dev/sda2", "/dev/sdb2", "/dev/sdc2"],
  });

  const stray = simulateMachine(DISKS.slice(0, 2));
  stray.arrays.set("/dev/md0", { name: "old", level: "1", members: ["/dev/sda1", "/dev/sdb1"] });
  await assert.rejects(
    createConfiguration(options(stray, node), node.target_raid_config),
    /Existing Software RAID device detected that should not be there: \/dev\/md0 \(old\)/,
  );
});

Deno.test("protectedRaidDevices() names kept and wiped-only arrays, nothing without names", async () => {
  const sim = simulateMachine(DISKS);
  sim.arrays.set("/dev/md0", { name: "data", level: "1", members: ["/dev/sda1", "/dev/sdb1"] });
  sim.arrays.set("/dev/md1", { name: "scratch", level: "1", members: ["/dev/sda2", "/dev/sdb2"] });
  sim.arrays.set("/dev/md2", { name: "old", level: "1", members: ["/dev/sdc1", "/dev/sdd1"] });
  const only: string[] = [];
  assert.deepEqual(
    await protectedRaidDevices(sim.runner, { onlyBlockDevices: only, protectedNames: ["data"] }),
    ["/dev/md0", "/dev/md1"], // md1 shares sda/sdb with the kept md0: wiped, never erased
  );
  assert.deepEqual(
    await protectedRaidDevices(sim.runner, { onlyBlockDevices: only, protectedNames: [] }),
    [],
  );
  // Fenced to sdc/sdd, the agent does not even see the arrays on sda/sdb.
  assert.deepEqual(
    await protectedRaidDevices(sim.runner, {
      onlyBlockDevices: ["/dev/sdc", "/dev/sdd"],
      protectedNames: ["data", "old"],
    }),
    ["/dev/md2"],
  );
});
