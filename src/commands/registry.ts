/**
 * The command registry: an explicit map from `"<extension>.<command>"` to a zod parameter schema
 * and a function (spec 03). Only registered commands exist; nothing is looked up by reflection.
 */
import type { z } from "zod";
import type { Logger } from "../log.ts";

/** What a running command receives besides its parameters. */
export interface CommandContext {
  readonly id: string;
  readonly log: Logger;
  /** Aborted when the agent shuts down. */
  readonly signal: AbortSignal;
  /** Publishes live progress for `GET /v1/commands/{id}`. */
  progress(report: Record<string, unknown>): void;
}

export interface CommandSpec<P = Record<string, unknown>> {
  /** Full name, `standby.prepare_image`. */
  readonly name: string;
  /** Async commands answer RUNNING at once and finish in the background (spec 02 §6.1). */
  readonly async: boolean;
  /** Validates `params`; failures answer 400 naming the parameter, and nothing is recorded. */
  readonly params: z.ZodType<P>;
  /** Further checks that must hold before the command starts (400 on failure). */
  validate?(params: P): void;
  run(params: P, ctx: CommandContext): Promise<unknown>;
}

/** Erases the parameter type so specs of different commands share one map. */
export function command<P>(spec: CommandSpec<P>): CommandSpec {
  return spec as unknown as CommandSpec;
}

export class CommandRegistry {
  readonly #byExtension = new Map<string, Map<string, CommandSpec>>();

  constructor(specs: Iterable<CommandSpec> = []) {
    for (const spec of specs) this.register(spec);
  }

  register(spec: CommandSpec): void {
    const dot = spec.name.indexOf(".");
    if (dot <= 0) throw new TypeError(`Command name "${spec.name}" is not "<extension>.<name>"`);
    const ext = spec.name.slice(0, dot);
    const cmd = spec.name.slice(dot + 1);
    const commands = this.#byExtension.get(ext) ?? new Map<string, CommandSpec>();
    if (commands.has(cmd)) throw new TypeError(`Command "${spec.name}" is registered twice`);
    commands.set(cmd, spec);
    this.#byExtension.set(ext, commands);
  }

  hasExtension(extension: string): boolean {
    return this.#byExtension.has(extension);
  }

  get(extension: string, command: string): CommandSpec | undefined {
    return this.#byExtension.get(extension)?.get(command);
  }

  /** Every registered full name, sorted. */
  names(): string[] {
    return [...this.#byExtension.entries()]
      .flatMap(([ext, cmds]) => [...cmds.keys()].map((cmd) => `${ext}.${cmd}`))
      .sort();
  }
}
