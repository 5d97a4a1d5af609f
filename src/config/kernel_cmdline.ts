/** The kernel command line (spec 10 §1.1): the `ipa-*` parameters and the ones other modules read. */
import type { Runner } from "../system/run.ts";
import { readSystemFile } from "../system/sysfs.ts";
import { defaultConfig } from "./defaults.ts";

/**
 * Key/value pairs of a kernel command line (spec 10 §1.1): split on whitespace, each token with
 * "=" split at its first "="; tokens without "=" are ignored and later duplicates win.
 */
export function parseKernelCmdline(text: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const token of text.split(/\s+/)) {
    const at = token.indexOf("=");
    if (at > 0) params[token.slice(0, at)] = token.slice(at + 1);
  }
  return params;
}

/**
 * Kernel parameters from the file at `path` (normally /proc/cmdline, which only `cat` through the
 * runner may open), or null when it cannot be read. Other modules use it for `BOOTIF` and
 * `boot_method`.
 */
export async function readKernelParams(
  runner: Runner,
  path: string = defaultConfig().cmdlinePath,
): Promise<Record<string, string> | null> {
  const text = await readSystemFile(runner, path);
  return text === null ? null : parseKernelCmdline(text);
}
