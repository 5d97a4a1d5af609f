/**
 * The `lldp` inspection collector and `collect_lldp` in the inventory, through the real
 * dispatcher: a generic-like manager lists the NICs and a higher-ranked one owns the capture,
 * as IPA's Intel CNA manager does.
 */
import assert from "node:assert/strict";
import { emptySysfs, fakeRunner } from "../erase/_test_runner.ts";
import { HardwareManagers } from "../hardware/dispatch.ts";
import type { Capabilities, HardwareManager } from "../hardware/manager.ts";
import type { LldpTlv } from "../inventory/lldp_frame.ts";
import { collectHardwareInfo } from "../inventory/hardware_info.ts";
import { nic as testNic } from "../inventory/_test_nics.ts";
import type { NetworkInterface } from "../inventory/types.ts";
import { Logger } from "../log.ts";
import { runCollectors } from "./collectors.ts";

const log = new Logger({ test: "lldp_collector" });
const TLVS: LldpTlv[] = [[1, "04020000000001"], [2, "03020000000001"], [3, "0078"], [0, ""]];

/** `ethN` with MAC address 52:54:00:00:00:0N. */
function nic(name: string): NetworkInterface {
  return testNic(name, { mac_address: "52:54:00:00:00:0" + name.at(-1) });
}

function manager(name: string, support: number, capabilities: Partial<Capabilities>) {
  const m: HardwareManager = {
    name,
    className: name,
    version: "1.0",
    evaluateSupport: () => Promise.resolve(support),
    steps: [],
    capabilities,
  };
  return m;
}

/** eth0 hears a switch, eth1 hears nothing, eth2's capture fails (left out of the result). */
async function machine() {
  const asked: (readonly string[])[] = [];
  const managers = new HardwareManagers();
  await managers.load([
    manager("generic", 1, {
      listNetworkInterfaces: () => Promise.resolve([nic("eth0"), nic("eth1"), nic("eth2")]),
      listBlockDevices: () => Promise.resolve([]),
      collectLldpData: () => Promise.reject(new Error("the CNA manager should have answered")),
    }),
    manager("cna", 2, {
      collectLldpData(names) {
        asked.push(names);
        const heard: Record<string, LldpTlv[]> = { eth0: TLVS, eth1: [] };
        return Promise.resolve(
          Object.fromEntries(names.filter((n) => n in heard).map((n) => [n, heard[n]!])),
        );
      },
    }),
  ], log);
  return { managers, asked };
}

Deno.test("runCollectors() puts a fresh capture in lldp_raw and names interfaces that failed", async () => {
  const { managers, asked } = await machine();
  const { data, failures } = await runCollectors({
    runner: fakeRunner(),
    log,
    managers,
    names: ["lldp"],
  });
  assert.deepEqual(asked, [["eth0", "eth1", "eth2"]]);
  assert.deepEqual(data.lldp_raw, { eth0: TLVS, eth1: [] });
  assert.deepEqual(failures, [
    'Collector "lldp" failed: LLDP capture failed on interface(s) "eth2"; ' +
    "the agent log has the reason for each",
  ]);
});

Deno.test("runCollectors() takes the lldp interfaces from the default collector's inventory", async () => {
  const { managers, asked } = await machine();
  const inventory = { interfaces: [nic("eth1")] };
  const { data, failures } = await runCollectors({
    runner: fakeRunner(),
    log,
    managers,
    names: ["default", "lldp"],
  }, {
    default: (d) => Promise.resolve(void (d.inventory = inventory)),
    lldp: (await import("./lldp.ts")).collectLldp,
  });
  assert.deepEqual(asked, [["eth1"]]);
  assert.deepEqual(data.lldp_raw, { eth1: [] });
  assert.deepEqual(failures, []);
});

Deno.test("collectHardwareInfo() fills interfaces[].lldp only when collect_lldp is set", async (t) => {
  const runner = fakeRunner(emptySysfs); // every other tool fails: those areas stay empty
  for (const collectLldp of [true, false]) {
    await t.step(`collectLldp: ${collectLldp}`, async () => {
      const { managers, asked } = await machine();
      const inventory = await collectHardwareInfo({
        runner,
        log,
        managers,
        cmdlinePath: "/proc/cmdline",
        collectLldp,
      });
      assert.deepEqual(
        inventory.interfaces.map((n) => [n.name, n.lldp]),
        collectLldp ? [["eth0", TLVS], ["eth1", []], ["eth2", null]] : [
          ["eth0", null],
          ["eth1", null],
          ["eth2", null],
        ],
      );
      assert.equal(asked.length, collectLldp ? 1 : 0);
    });
  }
});
