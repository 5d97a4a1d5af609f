/**
 * The generic manager's RAID and cleaning steps as the step command sees them: offers,
 * argument validation, and install-device selection after `create_configuration`.
 */
import assert from "node:assert/strict";
import { defaultConfig } from "../src/config/defaults.ts";
import type { Dispatcher, HardwareManager, ImageDeployer, Node } from "../src/hardware/manager.ts";
import { Logger } from "../src/log.ts";
import { simulateMachine } from "../src/raid/_test_machine.ts";
import createGenericManager from "./generic.ts";

const log = new Logger({ test: "generic_raid" });

async function manager(runner: ReturnType<typeof simulateMachine>["runner"]) {
  const unused = () => Promise.reject(new Error("not used in this test"));
  return await createGenericManager({
    runner,
    log,
    config: defaultConfig(),
    managers: { dispatch: unused, dispatchAll: unused } as unknown as Dispatcher,
    images: {} as ImageDeployer,
  });
}

function step(m: HardwareManager, name: string) {
  const found = m.steps.find((s) => s.step === name);
  assert.ok(found, `step ${name} is offered`);
  return found;
}

function context(node: Node, args: Record<string, unknown> = {}) {
  return {
    kind: "clean" as const,
    node,
    ports: [],
    args,
    log,
    signal: new AbortController().signal,
    progress() {},
  };
}

Deno.test("generic manager offers the erase, NVRAM and RAID steps with spec 04 §8 priorities", async () => {
  const m = await manager(simulateMachine([]).runner);
  const offers = Object.fromEntries(
    m.steps.map((s) => [s.step, [s.interface, s.clean?.priority, s.deploy?.priority]]),
  );
  assert.deepEqual(offers.erase_devices_metadata, ["deploy", 99, 0]);
  assert.deepEqual(offers.erase_devices_express, ["deploy", 0, undefined]);
  assert.deepEqual(offers.erase_pstore, ["deploy", 0, undefined]);
  assert.deepEqual(offers.clean_uefi_nvram, ["deploy", 0, 0]);
  assert.deepEqual(offers.create_configuration, ["raid", 0, undefined]);
  assert.deepEqual(offers.delete_configuration, ["raid", 0, undefined]);
  assert.deepEqual(offers.apply_configuration, ["raid", undefined, 0]);
});

Deno.test("clean_uefi_nvram and apply_configuration validate their arguments", async () => {
  const m = await manager(simulateMachine([]).runner);
  const nvram = step(m, "clean_uefi_nvram").args!;
  assert.ok(nvram.safeParse({ match_patterns: ["^HD\\("] }).success);
  assert.ok(nvram.safeParse({}).success);
  assert.ok(!nvram.safeParse({ match_patterns: "^HD" }).success);
  const bad = nvram.safeParse({ match_patterns: ["grub(.efi"] });
  assert.ok(!bad.success && /not a valid regular expression/.test(bad.error.issues[0]!.message));
  const apply = step(m, "apply_configuration").args!;
  assert.ok(!apply.safeParse({}).success);
  assert.ok(apply.safeParse({ raid_config: { logical_disks: [] } }).success);
});

Deno.test("getOsInstallDevice() answers the RAID root volume created by create_configuration", async () => {
  const sim = simulateMachine(["/dev/sda", "/dev/sdb"]);
  const m = await manager(sim.runner);
  const node: Node = {
    uuid: "n",
    target_raid_config: {
      logical_disks: [{
        size_gb: "MAX",
        raid_level: "1",
        controller: "software",
        is_root_volume: true,
      }],
    },
    // The hint would pick a holder disk; the RAID volume takes precedence (spec 07 §4).
    properties: { root_device: { name: "/dev/sdb" } },
  };
  const result = await step(m, "create_configuration").run(context(node));
  assert.deepEqual(result, node.target_raid_config);
  assert.equal(await m.capabilities.getOsInstallDevice!(node), "/dev/md0");
  await step(m, "delete_configuration").run(context(node));
  assert.equal(await m.capabilities.getOsInstallDevice!(node), "/dev/sdb");
});

Deno.test("apply_configuration deletes the old arrays, then creates the new ones", async () => {
  const sim = simulateMachine(["/dev/sda", "/dev/sdb", "/dev/sdc"]);
  sim.arrays.set("/dev/md0", { name: "old", level: "1", members: ["/dev/sda1", "/dev/sdb1"] });
  sim.partitions.set("/dev/sda", ["/dev/sda1"]);
  sim.partitions.set("/dev/sdb", ["/dev/sdb1"]);
  for (const p of ["/dev/sda1", "/dev/sdb1"]) sim.superblocks.add(p);
  const m = await manager(sim.runner);
  const raidConfig = {
    logical_disks: [{ size_gb: "MAX", raid_level: "1", controller: "software", volume_name: "os" }],
  };
  const result = await step(m, "apply_configuration").run({
    ...context({ uuid: "n" }, { raid_config: raidConfig }),
    kind: "deploy",
  });
  assert.deepEqual(result, raidConfig);
  assert.deepEqual([...sim.arrays.values()], [{
    name: "os",
    level: "1",
    members: ["/dev/sda1", "/dev/sdb1", "/dev/sdc1"],
  }]);
  const stop = sim.runner.calls.indexOf("mdadm --stop /dev/md0");
  const create = sim.runner.calls.findIndex((c) => c.startsWith("mdadm --create"));
  assert.ok(stop >= 0 && stop < create, "the old array is stopped before the new one is created");
});
