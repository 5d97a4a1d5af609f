import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { defaultConfig } from "../config.ts";
import { fakeRunner } from "../erase/_test_runner.ts";
import type { Dispatcher, StepContext } from "../hardware/manager.ts";
import { Logger, setSink } from "../log.ts";
import { injectFilesStep } from "./inject_files_step.ts";

setSink(() => {});

function setup(injectFilesPriority = 0) {
  const dispatched: string[] = [];
  const managers = {
    dispatch: (name: string) => {
      dispatched.push(name);
      return Promise.resolve("/dev/sda");
    },
    dispatchAll: () => Promise.reject(new Error("not used")),
  } as unknown as Dispatcher;
  const runner = fakeRunner();
  const step = injectFilesStep({
    runner,
    config: { ...defaultConfig(), injectFilesPriority },
    managers,
  });
  return { step, dispatched, runner };
}

Deno.test("injectFilesStep() is a deploy and service step at inject_files_priority", () => {
  const { step } = setup(42);
  assert.equal(step.step, "inject_files");
  assert.equal(step.interface, "deploy");
  assert.deepEqual(step.deploy, { priority: 42 });
  assert.deepEqual(step.service, { priority: 42 });
  assert.equal(step.clean, undefined);
  assert.deepEqual(Object.keys(step.argsinfo ?? {}), ["files", "verify_ca"]);
});

Deno.test("injectFilesStep() validates node properties and files before the step starts", () => {
  const { step } = setup();
  assert.throws(
    () => step.validate!({ files: [] }, { uuid: "u", properties: { inject_files: "x" } }),
    InvalidCommandParamsError,
  );
  assert.throws(
    () => step.validate!({ files: [{ path: "/etc/x" }] }, { uuid: "u" }),
    /files\[0\]: "content" is required unless "deleted" is true/,
  );
  step.validate!({ files: [{ path: "/etc/x", deleted: true }] }, { uuid: "u" });
});

Deno.test("injectFilesStep() with no files does nothing, not even finding the install device", async () => {
  const { step, dispatched, runner } = setup();
  const ctx: StepContext = {
    kind: "deploy",
    node: { uuid: "u", properties: {} },
    ports: [],
    args: { files: [] },
    log: new Logger(),
    signal: new AbortController().signal,
    progress: () => {},
  };
  assert.equal(await step.run(ctx), null);
  assert.deepEqual(dispatched, []);
  assert.deepEqual(runner.calls, []);
});
