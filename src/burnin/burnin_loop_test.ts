/**
 * The burn-in steps with the real tools (root only): stress-ng for two seconds on one CPU and a
 * little memory, and fio on a loop device created here. The disk list comes from the real,
 * fenced `lsblk` listing (`--only-block-devices` = the loop) and the fence is `--protect-host`,
 * so no other device can be touched.
 */
import assert from "node:assert/strict";
import { ProtectedDeviceError } from "../api/errors.ts";
import type { Dispatcher, Node, StepContext } from "../hardware/manager.ts";
import { listBlockDevices } from "../inventory/block_devices.ts";
import { Logger } from "../log.ts";
import { systemRunner } from "../system/run.ts";
import { createLoopDevice, readBacking } from "../../tests/harness/loop.ts";
import { burninSteps } from "./steps.ts";

const log = new Logger({ test: "burnin_loop" });

async function hasTool(name: string): Promise<boolean> {
  return await systemRunner.run("sh", ["-c", `command -v ${name}`]).then(() => true, () => false);
}
const hasStressNg = await hasTool("stress-ng");
const canUseLoops = Deno.build.os === "linux" && Deno.uid() === 0 && (await hasTool("losetup")) &&
  (await hasTool("fio"));

function fencedSteps(only: string[]) {
  // The dispatcher's listBlockDevices as the generic manager implements it.
  const managers = {
    dispatch: (name: string) => {
      assert.equal(name, "listBlockDevices");
      return listBlockDevices(systemRunner, { onlyBlockDevices: only });
    },
  } as unknown as Pick<Dispatcher, "dispatch">;
  const steps = burninSteps({
    runner: systemRunner,
    fence: { protectHost: true, onlyBlockDevices: only },
    managers,
  });
  return (name: string) => steps.find((s) => s.step === name)!;
}

function context(driver_info: Record<string, unknown>): StepContext {
  const node: Node = { uuid: "burnin-node", driver_info };
  return {
    kind: "clean",
    node,
    ports: [],
    args: {},
    log,
    signal: new AbortController().signal,
    progress: () => {},
  };
}

Deno.test({
  name: "burnin_cpu and burnin_memory run stress-ng for 2 s and write its report",
  ignore: !hasStressNg,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "burnin-" });
    try {
      const step = fencedSteps([]);
      const started = performance.now();
      await step("burnin_cpu").run(context({
        agent_burnin_cpu_cpu: 1,
        agent_burnin_cpu_timeout: "2",
        agent_burnin_cpu_outputfile: `${dir}/cpu.log`,
      }));
      await step("burnin_memory").run(context({
        agent_burnin_vm_vm: "1",
        "agent_burnin_vm_vm-bytes": "32m",
        agent_burnin_vm_timeout: 2,
        agent_burnin_vm_outputfile: `${dir}/vm.log`,
      }));
      // stress-ng honoured --timeout: each run lasted its 2 s, not the 24 h default.
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds >= 4 && seconds < 30, `took ${seconds} s`);
      const cpu = await Deno.readTextFile(`${dir}/cpu.log`);
      assert.match(cpu, /dispatching hogs: 1 cpu/);
      assert.match(cpu, /successful run completed/);
      const vm = await Deno.readTextFile(`${dir}/vm.log`);
      assert.match(vm, /dispatching hogs: 1 vm/);
      assert.match(vm, /successful run completed/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "burnin_disk writes and verifies only the fenced loop device with fio",
  ignore: !canUseLoops,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using loop = await createLoopDevice({ sizeMiB: 16 });
    await using outside = await createLoopDevice({ sizeMiB: 16 });
    const dir = await Deno.makeTempDir({ prefix: "burnin-" });
    try {
      const step = fencedSteps([loop.path]);
      await step("burnin_disk").run(context({
        agent_burnin_fio_disk_loops: 1,
        agent_burnin_fio_disk_runtime: "2",
        agent_burnin_fio_disk_outputfile: `${dir}/fio.json`,
      }));
      const report = JSON.parse(await Deno.readTextFile(`${dir}/fio.json`));
      assert.deepEqual(report.jobs.map((j: { jobname: string }) => j.jobname), [loop.path]);
      const [job] = report.jobs;
      assert.equal(job.error, 0);
      assert.ok(job.write.io_bytes > 0 && job.read.io_bytes > 0, "fio wrote and read back");
      // fio's verify blocks landed on the loop's backing file; the other loop stayed empty.
      assert.ok((await readBacking(loop, 0, 65536)).some((b) => b !== 0));
      assert.ok((await Deno.readFile(outside.file)).every((b) => b === 0));

      // A listing that returns a device the fence does not allow is refused before fio runs.
      const unfenced = burninSteps({
        runner: systemRunner,
        fence: { protectHost: true, onlyBlockDevices: [loop.path] },
        managers: {
          dispatch: () => listBlockDevices(systemRunner, { onlyBlockDevices: [outside.path] }),
        } as unknown as Pick<Dispatcher, "dispatch">,
      }).find((s) => s.step === "burnin_disk")!;
      await assert.rejects(
        unfenced.run(context({ agent_burnin_fio_disk_loops: 1, agent_burnin_fio_disk_runtime: 1 })),
        (err: unknown) =>
          err instanceof ProtectedDeviceError && err.details.includes(`burn in ${outside.path}`),
      );
      assert.ok((await Deno.readFile(outside.file)).every((b) => b === 0));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
