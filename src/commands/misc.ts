/** The small extensions: `log`, `poll`, `system` (spec 03 §5, §7, §8). */
import { z } from "zod";
import { InvalidCommandError } from "../api/errors.ts";
import type { HardwareManagers } from "../hardware/dispatch.ts";
import type { Node } from "../hardware/manager.ts";
import { recentLines } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { collectSystemLogs } from "../system/system_logs.ts";
import { command, type CommandSpec } from "./registry.ts";
import { nodeSchema } from "./schemas.ts";

export interface MiscDeps {
  managers: HardwareManagers;
  runner: Runner;
  standalone: boolean;
  /** Feeds lookup-shaped data in standalone mode (`poll.set_node_info`). */
  setNode(node: Node): Promise<void>;
  /** Stops the API and heartbeats after the current answer; `lockdown` also downs the NICs. */
  requestStop(options: { lockdown: boolean }): void;
}

export function miscCommands(deps: MiscDeps): CommandSpec[] {
  return [
    command({
      name: "log.collect_system_logs",
      async: false,
      params: z.looseObject({}),
      async run(_params, ctx) {
        let devices: string[] = [];
        try {
          devices = (await deps.managers.dispatch("listBlockDevices", { includePartitions: true }))
            .map((d) => d.name);
        } catch (err) {
          ctx.log.warn("could not list block devices for the log archive", { error: err });
        }
        const system_logs = await collectSystemLogs({
          runner: deps.runner,
          log: ctx.log,
          agentLog: recentLines(),
          devices,
        });
        return { system_logs };
      },
    }),
    command({
      name: "poll.get_hardware_info",
      async: false,
      params: z.looseObject({}),
      run() {
        return deps.managers.dispatch("listHardwareInfo");
      },
    }),
    command({
      name: "poll.set_node_info",
      async: false,
      params: z.looseObject({
        node_info: z.looseObject({ node: nodeSchema }).nullable().optional(),
      }),
      async run(params) {
        if (!deps.standalone) {
          throw new InvalidCommandError("poll.set_node_info is only available in standalone mode");
        }
        if (!params.node_info) {
          throw new InvalidCommandError("poll.set_node_info needs node_info with a node");
        }
        await deps.setNode(params.node_info.node);
        return null;
      },
    }),
    command({
      name: "system.lockdown",
      async: false,
      params: z.looseObject({}),
      run(_params, ctx) {
        ctx.log.warn("lockdown requested: the API and heartbeats stop after this answer");
        deps.requestStop({ lockdown: true });
        return Promise.resolve(null);
      },
    }),
  ];
}
