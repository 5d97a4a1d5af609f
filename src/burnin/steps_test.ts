import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { fakeRunner } from "../erase/_test_runner.ts";
import type { Dispatcher } from "../hardware/manager.ts";
import { burninSteps } from "./steps.ts";

const noDisks = {
  dispatch: () => Promise.reject(new Error("not used")),
} as unknown as Pick<Dispatcher, "dispatch">;

Deno.test("burninSteps() offers spec 04 §8.1/§8.3: clean priority 0 abortable, no service burnin_disk", () => {
  const steps = burninSteps({
    runner: fakeRunner(),
    fence: { protectHost: true, onlyBlockDevices: [] },
    managers: noDisks,
  });
  const offers = Object.fromEntries(
    steps.map((
      s,
    ) => [s.step, { iface: s.interface, clean: s.clean, deploy: s.deploy, service: s.service }]),
  );
  const clean = { priority: 0, abortable: true };
  const service = { priority: 0 };
  assert.deepEqual(offers, {
    burnin_cpu: { iface: "deploy", clean, deploy: undefined, service },
    burnin_memory: { iface: "deploy", clean, deploy: undefined, service },
    burnin_disk: { iface: "deploy", clean, deploy: undefined, service: undefined },
    burnin_network: { iface: "deploy", clean, deploy: undefined, service },
  });
});

Deno.test("burnin step validate() refuses a bad driver_info value before anything runs", () => {
  const runner = fakeRunner();
  const steps = burninSteps({
    runner,
    fence: { protectHost: true, onlyBlockDevices: [] },
    managers: noDisks,
  });
  const step = (name: string) => steps.find((s) => s.step === name)!;
  assert.throws(
    () =>
      step("burnin_memory").validate!({}, {
        uuid: "n",
        driver_info: { agent_burnin_vm_vm: "all" },
      }),
    (err: unknown) =>
      err instanceof InvalidCommandParamsError &&
      err.details.startsWith(
        'Cannot run burnin_memory: driver_info "agent_burnin_vm_vm" has the ' +
          'invalid value "all"',
      ),
  );
  // Valid settings pass.
  step("burnin_cpu").validate!({}, { uuid: "n", driver_info: { agent_burnin_cpu_timeout: "5" } });
  assert.deepEqual(runner.calls, []);
});
