import assert from "node:assert/strict";
import { HardwareManagers } from "../../src/hardware/dispatch.ts";
import { loadManagers } from "../../src/hardware/loader.ts";
import { defaultConfig } from "../../src/config.ts";
import { Logger, setSink } from "../../src/log.ts";
import type { Runner } from "../../src/system/run.ts";

setSink(() => {});

Deno.test("the example site manager loads by path, ranks first and wins what it overrides", async () => {
  const commands: string[] = [];
  const runner: Runner = {
    run(cmd, args) {
      commands.push([cmd, ...args].join(" "));
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
    pipe() {
      throw new Error("unused");
    },
  };
  const config = { ...defaultConfig(), diskWaitAttempts: 0 };
  const managers = new HardwareManagers();
  const loaded = await loadManagers({
    sources: ["managers/examples/site_manager.ts"],
    context: {
      runner,
      log: new Logger(),
      config,
      managers,
      images: { prepareImage: () => Promise.reject(new Error("unused")), validate: () => {} },
    },
  });
  await managers.load(loaded, new Logger());
  assert.deepEqual(managers.ranked.map((r) => r.manager.className), [
    "SiteManager",
    "GenericHardwareManager",
  ]);
  const { steps, hardware_manager_version } = managers.stepLists("clean");
  assert.deepEqual(steps.SiteManager?.map((s) => s.step), ["record_asset_tag"]);
  assert.deepEqual(hardware_manager_version, {
    site_manager: "1.0",
    generic_hardware_manager: "1.2",
  });
  // The generic manager's initialize() starts software RAID arrays (spec 12), as IPA does.
  assert.deepEqual(commands.splice(0), ["mdadm --assemble --scan --verbose"]);
  await managers.dispatch("fullSync");
  assert.deepEqual(commands, ["sync"], "the generic fullSync (drop caches, flushbufs) did not run");
});
