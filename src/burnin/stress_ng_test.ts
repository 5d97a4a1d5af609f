import assert from "node:assert/strict";
import { CommandExecutionError } from "../api/errors.ts";
import { fakeRunner } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { cpuSettings, memorySettings, readSettings } from "./settings.ts";
import { runStressNg, stressNgCpu, stressNgMemory } from "./stress_ng.ts";

const log = new Logger({ test: "stress_ng" });
const node = (driver_info: Record<string, unknown>) => ({ uuid: "n1", driver_info });

Deno.test("stressNgCpu() builds IPA's command line with and without a log file", () => {
  const defaults = stressNgCpu(readSettings(cpuSettings, node({}), "burnin_cpu"));
  assert.deepEqual(defaults, {
    stressor: "cpu",
    args: ["--cpu", "0", "--timeout", "86400", "--metrics-brief"],
    timeoutSeconds: 86400,
  });
  const custom = stressNgCpu(
    readSettings(
      cpuSettings,
      node({
        agent_burnin_cpu_cpu: 3,
        agent_burnin_cpu_timeout: "2h",
        agent_burnin_cpu_outputfile: "/var/log/cpu.log",
      }),
      "burnin_cpu",
    ),
  );
  assert.deepEqual(custom.args, [
    "--cpu",
    "3",
    "--timeout",
    "2h",
    "--metrics-brief",
    "--log-file",
    "/var/log/cpu.log",
  ]);
  assert.equal(custom.timeoutSeconds, 7200);
});

Deno.test("stressNgMemory() passes the vm count, bytes and timeout", () => {
  const command = stressNgMemory(
    readSettings(
      memorySettings,
      node({
        agent_burnin_vm_vm: "2",
        "agent_burnin_vm_vm-bytes": "512m",
        agent_burnin_vm_timeout: 5,
      }),
      "burnin_memory",
    ),
  );
  assert.deepEqual(command.args, [
    "--vm",
    "2",
    "--timeout",
    "5",
    "--vm-bytes",
    "512m",
    "--metrics-brief",
  ]);
});

Deno.test("runStressNg() runs stress-ng once and wraps its failure naming the stressor", async () => {
  const ok = fakeRunner((_l, cmd) => cmd === "stress-ng" ? { stderr: "metrics" } : undefined);
  await runStressNg(ok, stressNgCpu(readSettings(cpuSettings, node({}), "burnin_cpu")), { log });
  assert.deepEqual(ok.calls, ["stress-ng --cpu 0 --timeout 86400 --metrics-brief"]);

  const failing = fakeRunner((_l, cmd) =>
    cmd === "stress-ng" ? { code: 2, stderr: "stress-ng: error: [1] no vm workers" } : undefined
  );
  const vm = stressNgMemory(readSettings(memorySettings, node({}), "burnin_memory"));
  await assert.rejects(
    runStressNg(failing, vm, { log }),
    (err: unknown) =>
      err instanceof CommandExecutionError &&
      /^stress-ng \(vm\) failed with error .*exited with code 2.*no vm workers/.test(err.details),
  );
});
