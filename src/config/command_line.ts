/** The agent's command line: flags only, named after the option table. */
import { ConfigError } from "../api/errors.ts";
import { BY_FLAG, flagOf, type Known } from "./known_options.ts";

/**
 * Command-line flags keyed by canonical flag name (`listen-port`). Accepts `--flag value`,
 * `--flag=value`, the underscore spellings IPA's own flags use (`--api_url`), and for booleans a
 * bare `--flag` (true), `--no-flag` and oslo's `--noflag` (false).
 */
export function parseCommandLine(argv: readonly string[]): Record<string, string | boolean> {
  const flags: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("--") || arg === "--") {
      throw new ConfigError(`Unexpected command-line argument "${arg}": only flags are accepted`);
    }
    const equals = arg.indexOf("=");
    const typed = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
    const inline = equals < 0 ? undefined : arg.slice(equals + 1);
    const name = flagOf(typed);
    const known = BY_FLAG.get(name);
    if (known !== undefined) {
      if (inline !== undefined) flags[name] = inline;
      else if (known.boolean) flags[name] = true;
      else flags[name] = flagValue(argv[++i], typed);
      continue;
    }
    const negated = negatedFlag(name);
    if (negated === undefined || inline !== undefined) {
      throw new ConfigError(`Unknown command-line flag "--${typed}"`);
    }
    flags[negated.flag] = false;
  }
  return flags;
}

function flagValue(next: string | undefined, typed: string): string {
  // A value never starts with "--": that is the next flag, so this one lost its value.
  if (next === undefined || next.startsWith("--")) {
    throw new ConfigError(`Command-line flag "--${typed}" needs a value`);
  }
  return next;
}

/** The boolean option `--no-x` or `--nox` turns off, if any. */
function negatedFlag(name: string): Known | undefined {
  const rest = name.startsWith("no-") ? name.slice(3) : name.startsWith("no") ? name.slice(2) : "";
  const known = BY_FLAG.get(rest);
  return known?.boolean ? known : undefined;
}
