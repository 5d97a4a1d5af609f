import assert from "node:assert/strict";
import { HardwareManagers } from "./dispatch.ts";
import type { Capabilities, HardwareManager, StepDefinition } from "./manager.ts";
import {
  HardwareManagerMethodNotFound,
  HardwareManagerNotFound,
  IncompatibleHardwareMethodError,
} from "../api/errors.ts";
import { Logger, setSink } from "../log.ts";

setSink(() => {});
const log = new Logger();

function step(name: string, offers: Partial<StepDefinition>): StepDefinition {
  return { step: name, interface: "deploy", run: () => Promise.resolve(null), ...offers };
}

function manager(
  className: string,
  support: number,
  options: { steps?: StepDefinition[]; capabilities?: Partial<Capabilities>; version?: string } =
    {},
): HardwareManager & { initialized: boolean } {
  return {
    name: className.toLowerCase(),
    className,
    version: options.version ?? "1.0",
    initialized: false,
    evaluateSupport: () => Promise.resolve(support),
    initialize() {
      this.initialized = true;
      return Promise.resolve();
    },
    steps: options.steps ?? [],
    capabilities: options.capabilities ?? {},
  };
}

Deno.test("HardwareManagers.load() drops unsupported managers and ranks by support", async () => {
  const generic = manager("Generic", 1);
  const vendor = manager("Vendor", 3);
  const none = manager("None", 0);
  const managers = new HardwareManagers();
  await managers.load([generic, none, vendor], log);
  assert.deepEqual(managers.ranked.map((r) => r.manager.className), ["Vendor", "Generic"]);
  assert.ok(generic.initialized && vendor.initialized && !none.initialized);
  assert.deepEqual(managers.versions(), { vendor: "1.0", generic: "1.0" });
});

Deno.test("HardwareManagers.load() fails when no manager supports the machine", async () => {
  await assert.rejects(
    () => new HardwareManagers().load([manager("None", 0)], log),
    HardwareManagerNotFound,
  );
});

Deno.test("HardwareManagers.dispatch() falls through on IncompatibleHardwareMethodError only", async () => {
  const calls: string[] = [];
  const high = manager("High", 3, {
    capabilities: {
      fullSync() {
        calls.push("high");
        return Promise.reject(new IncompatibleHardwareMethodError("not me"));
      },
      getOsInstallDevice() {
        return Promise.reject(new RangeError("broken"));
      },
    },
  });
  const low = manager("Low", 1, {
    capabilities: {
      fullSync() {
        calls.push("low");
        return Promise.resolve();
      },
      getOsInstallDevice: () => Promise.resolve("/dev/sda"),
    },
  });
  const managers = new HardwareManagers();
  await managers.load([low, high], log);
  await managers.dispatch("fullSync");
  assert.deepEqual(calls, ["high", "low"]);
  // A genuine failure stops dispatch: no fallback to the lower manager.
  await assert.rejects(() => managers.dispatch("getOsInstallDevice", null), RangeError);
  await assert.rejects(
    () => managers.dispatch("listNetworkInterfaces"),
    (err: Error) =>
      err instanceof HardwareManagerMethodNotFound &&
      err.message.endsWith("Could not find method: listNetworkInterfaces"),
  );
});

Deno.test("HardwareManagers.dispatchAll() collects every implementing manager", async () => {
  const managers = new HardwareManagers();
  await managers.load([
    manager("A", 2, { capabilities: { fullSync: () => Promise.resolve() } }),
    manager("B", 1, {
      capabilities: { fullSync: () => Promise.reject(new IncompatibleHardwareMethodError("")) },
    }),
    manager("C", 1),
  ], log);
  assert.deepEqual([...(await managers.dispatchAll("fullSync")).keys()], ["A"]);
  await assert.rejects(
    () => managers.dispatchAll("listHardwareInfo"),
    HardwareManagerMethodNotFound,
  );
});

Deno.test("HardwareManagers.stepLists() keeps one winner per step name", async (t) => {
  const generic = manager("GenericHardwareManager", 1, {
    version: "1.2",
    steps: [
      step("erase_devices_metadata", {
        clean: { priority: 99, abortable: true },
        deploy: { priority: 0 },
      }),
      step("shared", { clean: { priority: 10 } }),
      step("tie", { clean: { priority: 5 } }),
    ],
  });
  const vendor = manager("VendorManager", 3, {
    steps: [
      step("shared", { clean: { priority: 1 } }),
      step("vendor_only", { deploy: { priority: 7 } }),
    ],
  });
  const other = manager("AaaManager", 1, { steps: [step("tie", { clean: { priority: 5 } })] });
  const managers = new HardwareManagers();
  await managers.load([generic, vendor, other], log);

  await t.step("higher support wins over higher priority", () => {
    const { steps } = managers.stepLists("clean");
    assert.deepEqual(steps.VendorManager, [
      { step: "shared", priority: 1, interface: "deploy", reboot_requested: false },
    ]);
  });
  await t.step("equal support and priority: alphabetically first class name wins", () => {
    const { steps } = managers.stepLists("clean");
    assert.deepEqual(steps.AaaManager?.map((s) => s.step), ["tie"]);
    assert.deepEqual(steps.GenericHardwareManager?.map((s) => s.step), ["erase_devices_metadata"]);
  });
  await t.step("each kind lists only what is offered for it, with its own priority", () => {
    const { steps, hardware_manager_version } = managers.stepLists("deploy");
    assert.deepEqual(steps.GenericHardwareManager, [
      { step: "erase_devices_metadata", priority: 0, interface: "deploy", reboot_requested: false },
    ]);
    assert.deepEqual(Object.keys(steps).sort(), ["GenericHardwareManager", "VendorManager"]);
    assert.deepEqual(hardware_manager_version, {
      vendormanager: "1.0",
      generichardwaremanager: "1.2",
      aaamanager: "1.0",
    });
  });
  await t.step("no manager offers a service step", () => {
    assert.deepEqual(managers.stepLists("service").steps, {});
  });
  await t.step("stepCandidates() lists offering managers best first", () => {
    assert.deepEqual(
      managers.stepCandidates("clean", "shared").map((c) => c.manager.className),
      ["VendorManager", "GenericHardwareManager"],
    );
    assert.deepEqual(managers.stepCandidates("service", "shared"), []);
  });
});
