/** Helpers shared by the config tests. */
import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { ConfigError } from "../api/errors.ts";
import { type ConfigSources, resolveConfig } from "./resolve.ts";

/** Resolves without logging; returns the config and the warnings it produced. */
export function resolve(sources: ConfigSources) {
  const warnings: string[] = [];
  const config = resolveConfig(sources, { onWarning: (message) => warnings.push(message) });
  return { config, warnings };
}

/** A file source with a [DEFAULT] section only. */
export function file(path: string, values: Record<string, string>) {
  return { path, sections: { DEFAULT: values } };
}

/** Asserts that `fn` throws a ConfigError whose details are exactly `details`. */
export function throwsConfigError(fn: () => unknown, details: string): void {
  throws(fn, isConfigErrorWith(details));
}

export async function rejectsConfigError(
  promise: Promise<unknown>,
  details: string,
): Promise<void> {
  await rejects(promise, isConfigErrorWith(details));
}

function isConfigErrorWith(details: string): (err: unknown) => true {
  return (err) => {
    ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assertEquals(err.details, details);
    return true;
  };
}
