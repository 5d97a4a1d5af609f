/**
 * Loads hardware managers: the generic manager we ship, then every module named in the
 * configuration (`--hardware-managers`, URLs or paths), imported at start-up. A module must
 * default-export a `ManagerFactory`; the object it returns is validated with zod, and a wrong
 * shape stops start-up with an error naming the module and the member.
 */
import { z } from "zod";
import { HardwareManagerConfigurationError } from "../api/errors.ts";
import createGenericManager from "../../managers/generic.ts";
import type { HardwareManager, ManagerContext, ManagerFactory } from "./manager.ts";
import { describeIssues } from "../commands/executor.ts";

const offerSchema = z.object({
  priority: z.number().int(),
  abortable: z.boolean().optional(),
  reboot_requested: z.boolean().optional(),
});

const managerSchema = z.object({
  name: z.string().min(1),
  className: z.string().min(1),
  version: z.string().min(1),
  evaluateSupport: z.function(),
  initialize: z.function().optional(),
  steps: z.array(z.object({
    step: z.string().regex(/^[a-z0-9_]+$/, "must be a snake_case step name"),
    interface: z.string().min(1),
    clean: offerSchema.optional(),
    deploy: offerSchema.optional(),
    service: offerSchema.optional(),
    run: z.function(),
  })),
  capabilities: z.record(z.string(), z.function()),
});

/** Resolves a configured source to an import specifier (paths relative to the working dir). */
export function toSpecifier(source: string): string {
  if (/^(https?|file):\/\//.test(source)) return source;
  const path = source.startsWith("/") ? source : `${Deno.cwd()}/${source}`;
  return new URL(`file://${path}`).href;
}

/** Validates what a factory returned; names `source` and the bad member. */
export function validateManager(value: unknown, source: string): HardwareManager {
  const parsed = managerSchema.safeParse(value);
  if (!parsed.success) {
    throw new HardwareManagerConfigurationError(
      `Hardware manager ${source} has the wrong shape: ${describeIssues(parsed.error, "manager")}`,
    );
  }
  return value as HardwareManager;
}

async function importFactory(source: string): Promise<ManagerFactory> {
  let module: { default?: unknown };
  try {
    module = await import(toSpecifier(source));
  } catch (err) {
    throw new HardwareManagerConfigurationError(
      `Cannot load hardware manager ${source}: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
  if (typeof module.default !== "function") {
    throw new HardwareManagerConfigurationError(
      `Hardware manager ${source} must default-export a factory function, got ${typeof module
        .default}`,
    );
  }
  return module.default as ManagerFactory;
}

export interface LoadOptions {
  /** Extra manager modules from the configuration. */
  sources: readonly string[];
  context: ManagerContext;
}

/** The generic manager plus every configured one, in configuration order. */
export async function loadManagers(options: LoadOptions): Promise<HardwareManager[]> {
  const managers = [validateManager(await createGenericManager(options.context), "generic")];
  for (const source of options.sources) {
    const factory = await importFactory(source);
    managers.push(validateManager(await factory(options.context), source));
  }
  return managers;
}
