/** The `standby` extension (spec 03 §3). */
import { z } from "zod";
import { CommandExecutionError } from "../api/errors.ts";
import type { HardwareManagers } from "../hardware/dispatch.ts";
import type { ImageDeployer, Node } from "../hardware/manager.ts";
import type { Logger } from "../log.ts";
import { assertValidNodeHints } from "../hints/command_validation.ts";
import type { HostControl } from "../system/host.ts";
import { command, type CommandSpec } from "./registry.ts";

export interface StandbyDeps {
  managers: HardwareManagers;
  images: ImageDeployer & { partitionUuids(): Record<string, unknown> };
  host: HostControl;
  /** The node from lookup or the last step command. */
  node(): Node | null;
}

/** Flushes every manager's caches (spec 03 §3.4 step 2); failures only logged. */
async function flushAll(managers: HardwareManagers, log: Logger): Promise<void> {
  try {
    await managers.dispatchAll("fullSync");
  } catch (err) {
    log.warn("flushing caches before shutdown failed", { error: err });
  }
}

/** Lets the HTTP answer (RUNNING) leave before the machine goes down. */
const ANSWER_GRACE_MS = 500;

export function standbyCommands(deps: StandbyDeps): CommandSpec[] {
  const imageParams = z.looseObject({
    image_info: z.record(z.string(), z.unknown()),
    configdrive: z.string().nullable().optional(),
  });

  function shutdownCommand(name: "power_off" | "run_image", mode: "poweroff" | "reboot") {
    return command({
      name: `standby.${name}`,
      async: true,
      params: z.looseObject({}),
      async run(_params, ctx) {
        await deps.host.syncHardwareClock();
        await flushAll(deps.managers, ctx.log);
        await new Promise((r) => setTimeout(r, ANSWER_GRACE_MS));
        await deps.host.shutdown(mode);
        return null;
      },
    });
  }

  return [
    command({
      name: "standby.prepare_image",
      async: true,
      params: imageParams,
      validate(params) {
        deps.images.validate(params.image_info, params.configdrive ?? null);
        assertValidNodeHints(deps.node(), "prepare the image");
      },
      run(params, ctx) {
        return deps.images.prepareImage({
          node: deps.node(),
          imageInfo: params.image_info,
          configdrive: params.configdrive ?? null,
          log: ctx.log,
          signal: ctx.signal,
          progress: ctx.progress,
        });
      },
    }),
    command({
      name: "standby.get_partition_uuids",
      async: false,
      params: z.looseObject({}),
      run() {
        return Promise.resolve(deps.images.partitionUuids());
      },
    }),
    command({
      name: "standby.sync",
      async: false,
      params: z.looseObject({}),
      async run() {
        try {
          await deps.managers.dispatchAll("fullSync");
        } catch (err) {
          throw new CommandExecutionError(`Flushing file systems failed: ${err}`, { cause: err });
        }
        return null;
      },
    }),
    shutdownCommand("power_off", "poweroff"),
    shutdownCommand("run_image", "reboot"),
  ];
}
