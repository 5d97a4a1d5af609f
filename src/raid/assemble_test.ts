import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { ToolError } from "../system/run.ts";
import { fakeRunner } from "../erase/_test_runner.ts";
import { assembleArrays } from "./assemble.ts";

const log = new Logger({ test: "raid_assemble" });
const OPEN = { protectHost: false, onlyBlockDevices: [] };
const ASSEMBLE = "mdadm --assemble --scan --verbose";

Deno.test("assembleArrays() runs mdadm --assemble --scan --verbose once", async () => {
  const runner = fakeRunner((line) =>
    line === ASSEMBLE
      ? { stderr: "mdadm: /dev/md/root has been started with 2 drives.\n" }
      : undefined
  );
  assert.equal(await assembleArrays(runner, { log, fence: OPEN }), "assembled");
  assert.deepEqual(runner.calls, [ASSEMBLE]);
});

Deno.test("assembleArrays() tolerates no arrays and a missing mdadm", async (t) => {
  await t.step("no arrays found (exit 1)", async () => {
    const runner = fakeRunner(() => ({
      code: 1,
      stderr: "mdadm: No arrays found in config file or automatically\n",
    }));
    assert.equal(await assembleArrays(runner, { log, fence: OPEN }), "none");
  });
  await t.step("mdadm not installed", async () => {
    const runner = fakeRunner(() =>
      new ToolError(
        { command: ASSEMBLE, exitCode: null, stderr: "" },
        "could not start: NotFound: Failed to spawn 'mdadm'",
      )
    );
    assert.equal(await assembleArrays(runner, { log, fence: OPEN }), "no-mdadm");
  });
});

Deno.test("assembleArrays() assembles nothing when the agent is fenced", async () => {
  for (
    const fence of [
      { protectHost: true, onlyBlockDevices: [] },
      { protectHost: false, onlyBlockDevices: ["/dev/loop3"] },
    ]
  ) {
    const runner = fakeRunner(() => "");
    assert.equal(await assembleArrays(runner, { log, fence }), "fenced");
    assert.deepEqual(runner.calls, []);
  }
});
