import assert from "node:assert/strict";
import type { IronicNode } from "./ironic_client.ts";
import { machineAction } from "./power_watcher.ts";

function node(fields: Partial<IronicNode>): IronicNode {
  return {
    uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
    name: null,
    driver: "fake-hardware",
    provision_state: "available",
    target_provision_state: null,
    power_state: "power off",
    target_power_state: null,
    last_error: null,
    maintenance: false,
    instance_info: {},
    driver_internal_info: {},
    properties: {},
    clean_step: null,
    deploy_step: null,
    ...fields,
  };
}

const T1 = { last_power_state_change: "2026-01-01T00:00:01.000000" };
const T2 = { last_power_state_change: "2026-01-01T00:00:02.000000" };

Deno.test("machineAction() plays a machine booting the ramdisk or its disk", async (t) => {
  const cases: {
    name: string;
    node: IronicNode;
    running: boolean;
    lastChange?: unknown;
    expect: "none" | "stop" | "start";
  }[] = [
    {
      name: "boots the ramdisk when cleaning powers on",
      node: node({
        provision_state: "clean wait",
        power_state: "power on",
        driver_internal_info: T1,
      }),
      running: false,
      expect: "start",
    },
    {
      name: "boots the ramdisk for the deploy step",
      node: node({
        provision_state: "deploying",
        power_state: "power on",
        deploy_step: { step: "deploy", interface: "deploy" },
      }),
      running: false,
      expect: "start",
    },
    {
      name: "boots its disk on the final power-on of a deployment",
      node: node({
        provision_state: "deploying",
        power_state: "power on",
        deploy_step: { step: "boot_instance", interface: "deploy" },
      }),
      running: false,
      expect: "none",
    },
    {
      name: "boots its disk when the deployment has no step left",
      node: node({ provision_state: "deploying", power_state: "power on", deploy_step: {} }),
      running: false,
      expect: "none",
    },
    {
      name: "waits for the cleaning reboot before booting the ramdisk",
      node: node({ provision_state: "cleaning", power_state: "power on", clean_step: {} }),
      running: false,
      expect: "none",
    },
    {
      name: "boots the ramdisk while a clean step runs",
      node: node({
        provision_state: "cleaning",
        power_state: "power on",
        clean_step: { step: "erase_devices_metadata", interface: "deploy" },
      }),
      running: false,
      expect: "start",
    },
    {
      name: "boots its disk when active",
      node: node({ provision_state: "active", power_state: "power on" }),
      running: false,
      expect: "none",
    },
    {
      name: "waits while a power action is in progress",
      node: node({
        provision_state: "clean wait",
        power_state: "power on",
        target_power_state: "power on",
      }),
      running: false,
      expect: "none",
    },
    {
      name: "does nothing when powered on outside provisioning",
      node: node({ provision_state: "manageable", power_state: "power on" }),
      running: false,
      expect: "none",
    },
    {
      name: "stops the agent on power off",
      node: node({ provision_state: "available", power_state: "power off" }),
      running: true,
      lastChange: T1.last_power_state_change,
      expect: "stop",
    },
    {
      name: "stops the agent on a reboot that left the power on",
      node: node({
        provision_state: "clean wait",
        power_state: "power on",
        driver_internal_info: T2,
      }),
      running: true,
      lastChange: T1.last_power_state_change,
      expect: "stop",
    },
    {
      name: "stops the agent once the node is active",
      node: node({ provision_state: "active", power_state: "power on", driver_internal_info: T1 }),
      running: true,
      lastChange: T1.last_power_state_change,
      expect: "stop",
    },
    {
      name: "keeps the agent through tear_down_agent",
      node: node({
        provision_state: "deploying",
        power_state: "power on",
        deploy_step: { step: "tear_down_agent", interface: "deploy" },
        driver_internal_info: T1,
      }),
      running: true,
      lastChange: T1.last_power_state_change,
      expect: "none",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const action = machineAction(c.node, { lastChange: c.lastChange, running: c.running });
      assert.equal(action.kind, c.expect);
    });
  }
});
