/**
 * The `clean`, `deploy` and `service` extensions (spec 03 §2): identical apart from names, so
 * one factory builds all three.
 */
import { z } from "zod";
import {
  AgentError,
  CleaningError,
  CommandExecutionError,
  DeploymentError,
  describeError,
  HardwareManagerMethodNotFound,
  IncompatibleHardwareMethodError,
  InvalidCommandParamsError,
  ServicingError,
  VersionMismatch,
} from "../api/errors.ts";
import type { HardwareManagers } from "../hardware/dispatch.ts";
import type { Node, StepKind } from "../hardware/manager.ts";
import type { Logger } from "../log.ts";
import { command, type CommandSpec } from "./registry.ts";
import { describeIssues } from "./executor.ts";
import { nodeSchema, portsSchema, versionMapSchema } from "./schemas.ts";

/** Keeps the node the conductor last sent (spec 04 §9). */
export interface NodeCache {
  /** Caches `node`; waits for disks when its UUID differs from the cached one. */
  update(node: Node): Promise<void>;
}

export interface StepCommandDeps {
  managers: HardwareManagers;
  nodes: NodeCache;
}

const WRAPPERS: Record<StepKind, (details: string, cause: unknown) => AgentError> = {
  clean: (d, cause) => new CleaningError(d, { cause }),
  deploy: (d, cause) => new DeploymentError(d, { cause }),
  service: (d, cause) => new ServicingError(d, { cause }),
};

function sameVersions(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

export function stepCommands(kind: StepKind, deps: StepCommandDeps): CommandSpec[] {
  const versionParam = `${kind}_version`;

  const getSteps = command({
    name: `${kind}.get_${kind}_steps`,
    async: false,
    params: z.looseObject({ node: nodeSchema, ports: portsSchema.default([]) }),
    async run(params) {
      await deps.nodes.update(params.node);
      const lists = deps.managers.stepLists(kind);
      return {
        [`${kind}_steps`]: lists.steps,
        hardware_manager_version: lists.hardware_manager_version,
      };
    },
  });

  const executeParams = z.looseObject({
    step: z.looseObject({
      step: z.string().optional(),
      args: z.record(z.string(), z.unknown()).optional(),
    }),
    node: nodeSchema,
    ports: portsSchema.default([]),
  }).superRefine((params, ctx) => {
    const version = versionMapSchema.nullable().optional().safeParse(params[versionParam]);
    if (!version.success) {
      ctx.addIssue({
        code: "custom",
        path: [versionParam],
        message: "must be an object of strings",
      });
    }
  });
  type ExecuteParams = z.infer<typeof executeParams>;

  /** Step arguments: extra parameters overridden by `step.args` (spec 03 §2.2 step 4). */
  function stepArgs(params: ExecuteParams): Record<string, unknown> {
    const { step, node: _n, ports: _p, ...extra } = params;
    delete extra[versionParam];
    return { ...extra, ...step.args };
  }

  const executeStep = command({
    name: `${kind}.execute_${kind}_step`,
    async: true,
    params: executeParams,
    validate(params) {
      // Declared argument schemas are checked before the step starts, so a bad argument is a
      // 400 naming it rather than a half-run step.
      const name = params.step.step;
      if (!name) return;
      for (const { step } of deps.managers.stepCandidates(kind, name)) {
        let args = stepArgs(params);
        if (step.args) {
          const parsed = step.args.safeParse(args);
          if (!parsed.success) {
            throw new InvalidCommandParamsError(
              `Invalid arguments for ${kind} step ${name}: ${describeIssues(parsed.error, "args")}`,
            );
          }
          args = parsed.data;
        }
        step.validate?.(args, params.node);
      }
    },
    async run(params, ctx) {
      await deps.nodes.update(params.node);
      const expected = params[versionParam] as Record<string, string> | null | undefined;
      const current = deps.managers.versions();
      if (expected && !sameVersions(expected, current)) {
        throw new VersionMismatch(
          `Current versions: ${JSON.stringify(current)}, versions used by ironic: ${
            JSON.stringify(expected)
          }`,
        );
      }
      const name = params.step.step;
      if (!name) {
        throw new CommandExecutionError(
          `Malformed ${kind}_step, no "step" key: ${JSON.stringify(params.step)}`,
        );
      }
      const log = ctx.log.with({ step: name, kind });
      let result: unknown;
      try {
        result = await runStep(deps.managers, kind, name, {
          node: params.node,
          ports: params.ports,
          rawArgs: stepArgs(params),
          log,
          signal: ctx.signal,
          progress: ctx.progress,
        });
      } catch (err) {
        if (err instanceof AgentError) throw err;
        throw WRAPPERS[kind](
          `Unexpected exception performing ${kind} step ${name}. ${describeError(err)}`,
          err,
        );
      }
      return { [`${kind}_result`]: result ?? null, [`${kind}_step`]: params.step };
    },
  });

  return [getSteps, executeStep];
}

interface RunStepOptions {
  node: Node;
  ports: Record<string, unknown>[];
  rawArgs: Record<string, unknown>;
  log: Logger;
  signal: AbortSignal;
  progress(report: Record<string, unknown>): void;
}

/** Runs `name` on the best manager offering it, falling through on "not me" (spec 04 §4). */
async function runStep(
  managers: HardwareManagers,
  kind: StepKind,
  name: string,
  options: RunStepOptions,
): Promise<unknown> {
  for (const { manager, step } of managers.stepCandidates(kind, name)) {
    const args = step.args ? step.args.parse(options.rawArgs) : options.rawArgs;
    options.log.info("running step", { manager: manager.className });
    try {
      return await step.run({ kind, ...options, args, log: options.log });
    } catch (err) {
      if (err instanceof IncompatibleHardwareMethodError) continue;
      throw err;
    }
  }
  throw new HardwareManagerMethodNotFound(`Could not find method: ${name}`);
}
