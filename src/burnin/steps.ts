/**
 * The burn-in steps the generic manager offers (spec 04 §8.1, §8.3, §10): clean steps of the
 * `deploy` interface at priority 0 (run only when asked for) and abortable; `burnin_cpu`,
 * `burnin_memory` and `burnin_network` also as service steps (`burnin_disk` deliberately not:
 * it overwrites the disks of a deployed instance). Settings come from `node.driver_info` and
 * are checked before the command starts, so a bad value answers 400 naming the key.
 */
import type { z } from "zod";
import type { Dispatcher, StepContext, StepDefinition } from "../hardware/manager.ts";
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

const CLEAN = { clean: { priority: 0, abortable: true } } as const;
const CLEAN_AND_SERVICE = { ...CLEAN, service: { priority: 0 } } as const;

/**
 * A burn-in step of the `deploy` interface, its settings read from `driver_info` (errors name
 * the step) to validate the request and again to run; the step's result is `null`.
 */
function burninStep<S extends z.ZodObject>(
  step: string,
  offers: Pick<StepDefinition, "clean" | "service">,
  schema: S,
  burnin: (settings: z.output<S>, ctx: StepContext) => Promise<void>,
): StepDefinition {
  return {
    step,
    interface: "deploy",
    ...offers,
    validate: (_args, node) => void readSettings(schema, node, step),
    async run(ctx) {
      await burnin(readSettings(schema, ctx.node, step), ctx);
      return null;
    },
  };
}

export function burninSteps(options: BurninStepsOptions): StepDefinition[] {
  const { runner, fence, managers } = options;
  return [
    burninStep(
      "burnin_cpu",
      CLEAN_AND_SERVICE,
      cpuSettings,
      (settings, { log, signal }) => runStressNg(runner, stressNgCpu(settings), { log, signal }),
    ),
    burninStep(
      "burnin_memory",
      CLEAN_AND_SERVICE,
      memorySettings,
      (settings, { log, signal }) => runStressNg(runner, stressNgMemory(settings), { log, signal }),
    ),
    burninStep("burnin_disk", CLEAN, diskSettings, (settings, { log, signal }) =>
      burninDisks({
        runner,
        log,
        settings,
        listDisks: () => managers.dispatch("listBlockDevices", {}),
        fence,
        signal,
      })),
    burninStep(
      "burnin_network",
      CLEAN_AND_SERVICE,
      networkSettings,
      (settings, { log, signal }) => burninNetwork({ runner, log, settings, signal }),
    ),
  ];
}
