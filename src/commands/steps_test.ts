import assert from "node:assert/strict";
import { z } from "zod";
import { stepCommands } from "./steps.ts";
import { CommandExecutor } from "./executor.ts";
import { CommandRegistry } from "./registry.ts";
import { HardwareManagers } from "../hardware/dispatch.ts";
import type { HardwareManager, Node, StepContext } from "../hardware/manager.ts";
import { BlockDeviceEraseError, InvalidCommandParamsError } from "../api/errors.ts";
import { Logger, setSink } from "../log.ts";

setSink(() => {});
const node: Node = { uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123" };

async function setup() {
  const seen: StepContext[] = [];
  const cached: string[] = [];
  const generic: HardwareManager = {
    name: "generic_hardware_manager",
    className: "GenericHardwareManager",
    version: "1.2",
    evaluateSupport: () => Promise.resolve(1),
    capabilities: {},
    steps: [
      {
        step: "erase_devices_metadata",
        interface: "deploy",
        clean: { priority: 99, abortable: true },
        deploy: { priority: 0 },
        run(ctx) {
          seen.push(ctx);
          return Promise.resolve({ erased: ctx.args });
        },
      },
      {
        step: "broken",
        interface: "deploy",
        clean: { priority: 0 },
        deploy: { priority: 0 },
        service: { priority: 0 },
        run: () => Promise.reject(new RangeError("index out of range")),
      },
      {
        step: "agent_error",
        interface: "deploy",
        clean: { priority: 0 },
        run: () => Promise.reject(new BlockDeviceEraseError("Failed on /dev/loop0")),
      },
      {
        step: "typed",
        interface: "raid",
        clean: { priority: 0 },
        args: z.object({ count: z.number().int() }),
        run: (ctx) => Promise.resolve(ctx.args),
      },
    ],
  };
  const managers = new HardwareManagers();
  await managers.load([generic], new Logger());
  const nodes = {
    update(n: Node) {
      cached.push(n.uuid);
      return Promise.resolve();
    },
  };
  const registry = new CommandRegistry([
    ...stepCommands("clean", { managers, nodes }),
    ...stepCommands("deploy", { managers, nodes }),
    ...stepCommands("service", { managers, nodes }),
  ]);
  const executor = new CommandExecutor({ registry });
  async function run(name: string, params: Record<string, unknown>) {
    const record = await executor.execute(name, params);
    await record.done;
    return record.toJSON();
  }
  return { run, executor, seen, cached };
}

Deno.test("get_clean_steps returns merged steps and the version map", async () => {
  const { run, cached } = await setup();
  const res = await run("clean.get_clean_steps", { node, ports: [] });
  assert.equal(res.command_name, "get_clean_steps");
  const result = res.command_result as Record<string, unknown>;
  assert.deepEqual(result.hardware_manager_version, { generic_hardware_manager: "1.2" });
  const steps = (result.clean_steps as Record<string, { step: string }[]>).GenericHardwareManager!;
  assert.deepEqual(steps.map((s) => s.step), [
    "erase_devices_metadata",
    "broken",
    "agent_error",
    "typed",
  ]);
  assert.deepEqual(cached, [node.uuid]);
  const deploy = await run("deploy.get_deploy_steps", { node });
  assert.deepEqual(
    Object.keys((deploy.command_result as Record<string, unknown>).deploy_steps as object),
    ["GenericHardwareManager"],
  );
});

Deno.test("execute_clean_step echoes the step and passes args over extras", async () => {
  const { run, seen } = await setup();
  const step = {
    interface: "deploy",
    step: "erase_devices_metadata",
    priority: 99,
    abortable: true,
    args: { b: 2 },
  };
  const res = await run("clean.execute_clean_step", {
    step,
    node,
    ports: [],
    clean_version: { generic_hardware_manager: "1.2" },
    a: 1,
    b: 1,
  });
  assert.equal(res.command_name, "execute_clean_step");
  assert.equal(res.command_status, "SUCCEEDED");
  assert.deepEqual(res.command_result, {
    clean_result: { erased: { a: 1, b: 2 } },
    clean_step: step,
  });
  assert.equal(seen[0]!.kind, "clean");
});

Deno.test("execute_deploy_step reports CLEAN_VERSION_MISMATCH when versions differ", async () => {
  const { run } = await setup();
  const res = await run("deploy.execute_deploy_step", {
    step: { interface: "deploy", step: "erase_devices_metadata" },
    node,
    ports: [],
    deploy_version: { generic_hardware_manager: "1.1" },
  });
  assert.equal(res.command_status, "CLEAN_VERSION_MISMATCH");
  assert.equal(res.command_result, null);
  assert.deepEqual(res.command_error, {
    type: "VersionMismatch",
    code: 409,
    message: "Hardware managers version mismatch, reload agent with correct version",
    details:
      'Current versions: {"generic_hardware_manager":"1.2"}, versions used by ironic: {"generic_hardware_manager":"1.1"}',
  });
});

Deno.test("execute_<kind>_step wraps foreign errors per kind and keeps agent errors", async (t) => {
  const { run } = await setup();
  for (
    const [kind, type] of [["clean", "CleaningError"], ["deploy", "DeploymentError"], [
      "service",
      "ServicingError",
    ]] as const
  ) {
    await t.step(kind, async () => {
      const res = await run(`${kind}.execute_${kind}_step`, {
        step: { interface: "deploy", step: "broken" },
        node,
      });
      assert.equal(res.command_status, "FAILED");
      const error = res.command_error as { type: string; details: string };
      assert.equal(error.type, type);
      assert.equal(
        error.details,
        `Unexpected exception performing ${kind} step broken. RangeError: index out of range`,
      );
    });
  }
  const agentError = await run("clean.execute_clean_step", {
    step: { interface: "deploy", step: "agent_error" },
    node,
  });
  assert.equal((agentError.command_error as { type: string }).type, "BlockDeviceEraseError");
});

Deno.test("execute_clean_step fails an unknown or unoffered step with HardwareManagerMethodNotFound", async () => {
  const { run } = await setup();
  for (const [name, stepName] of [["clean", "nope"], ["service", "erase_devices_metadata"]]) {
    const res = await run(`${name}.execute_${name}_step`, {
      step: { interface: "deploy", step: stepName },
      node,
    });
    assert.equal(res.command_status, "FAILED");
    assert.equal((res.command_error as { type: string }).type, "HardwareManagerMethodNotFound");
  }
  const malformed = await run("clean.execute_clean_step", { step: { interface: "deploy" }, node });
  assert.match((malformed.command_error as { details: string }).details, /no "step" key/);
});

Deno.test("execute_clean_step rejects bad declared arguments with 400 before running", async () => {
  const { executor } = await setup();
  await assert.rejects(
    () =>
      executor.execute("clean.execute_clean_step", {
        step: { interface: "raid", step: "typed", args: { count: "three" } },
        node,
      }),
    (err: Error) =>
      err instanceof InvalidCommandParamsError && /args\.count/.test(err.message) &&
      /typed/.test(err.message),
  );
  assert.equal(executor.list().length, 0);
  await assert.rejects(
    () => executor.execute("clean.execute_clean_step", { step: { step: "typed" } }),
    (err: Error) => err instanceof InvalidCommandParamsError && /params\.node/.test(err.message),
  );
});
