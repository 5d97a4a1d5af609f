/**
 * The burn-in steps the generic manager offers (spec 04 §8.1, §8.3, §10): clean steps of the
 * `deploy` interface at priority 0 (run only when asked for) and abortable; `burnin_cpu`,
 * `burnin_memory` and `burnin_network` also as service steps (`burnin_disk` deliberately not:
 * it overwrites the disks of a deployed instance). Settings come from `node.driver_info` and
 * are checked before the command starts, so a bad value answers 400 naming the key.
 */
import type { Dispatcher, Node, StepDefinition } from "../hardware/manager.ts";
import type { FenceOptions } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";
import { burninDisks } from "./fio_disk.ts";
import { burninNetwork } from "./fio_network.ts";
import {
  cpuSettings,
  diskSettings,
  memorySettings,
  networkSettings,
  readSettings,
} from "./settings.ts";
import { runStressNg, stressNgCpu, stressNgMemory } from "./stress_ng.ts";

export interface BurninStepsOptions {
  runner: Runner;
  /** `--protect-host` and `--only-block-devices`: which disks `burnin_disk` may write. */
  fence: FenceOptions;
  managers: Pick<Dispatcher, "dispatch">;
}

const CLEAN = { priority: 0, abortable: true } as const;
const SERVICE = { priority: 0 } as const;

export function burninSteps(options: BurninStepsOptions): StepDefinition[] {
  const { runner, fence, managers } = options;
  return [
    {
      step: "burnin_cpu",
      interface: "deploy",
      clean: CLEAN,
      service: SERVICE,
      validate: (_args, node: Node) => void readSettings(cpuSettings, node, "burnin_cpu"),
      async run(step) {
        const settings = readSettings(cpuSettings, step.node, "burnin_cpu");
        await runStressNg(runner, stressNgCpu(settings), { log: step.log, signal: step.signal });
        return null;
      },
    },
    {
      step: "burnin_memory",
      interface: "deploy",
      clean: CLEAN,
      service: SERVICE,
      validate: (_args, node: Node) => void readSettings(memorySettings, node, "burnin_memory"),
      async run(step) {
        const settings = readSettings(memorySettings, step.node, "burnin_memory");
        await runStressNg(runner, stressNgMemory(settings), {
          log: step.log,
          signal: step.signal,
        });
        return null;
      },
    },
    {
      step: "burnin_disk",
      interface: "deploy",
      clean: CLEAN,
      validate: (_args, node: Node) => void readSettings(diskSettings, node, "burnin_disk"),
      async run(step) {
        await burninDisks({
          runner,
          log: step.log,
          settings: readSettings(diskSettings, step.node, "burnin_disk"),
          listDisks: () => managers.dispatch("listBlockDevices", {}),
          fence,
          signal: step.signal,
        });
        return null;
      },
    },
    {
      step: "burnin_network",
      interface: "deploy",
      clean: CLEAN,
      service: SERVICE,
      validate: (_args, node: Node) => void readSettings(networkSettings, node, "burnin_network"),
      async run(step) {
        await burninNetwork({
          runner,
          log: step.log,
          settings: readSettings(networkSettings, step.node, "burnin_network"),
          signal: step.signal,
        });
        return null;
      },
    },
  ];
}
