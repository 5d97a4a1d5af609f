/**
 * Resolution: merges the raw sources by precedence (spec 10 §1, summed up in `../config.ts`) and
 * validates the result with the one zod schema built from the option table.
 */
import { z } from "zod";
import { ConfigError } from "../api/errors.ts";
import type { Config } from "../config.ts";
import { log } from "../log.ts";
import { defaultConfig } from "./defaults.ts";
import type { ConfigFileSource } from "./files.ts";
import {
  BY_FILE_ALIAS,
  BY_FILE_KEY,
  BY_FLAG,
  BY_KERNEL,
  fileKeyOf,
  flagOf,
  KERNEL_ONLY_PARAMS,
} from "./known_options.ts";
import { DEFS, type OptionDef } from "./options.ts";

/** Raw (still textual) inputs, as `loadConfig` reads them. */
export interface ConfigSources {
  /** Kernel parameters, e.g. from `parseKernelCmdline`. */
  kernel?: Record<string, string>;
  /** Parsed config files, lowest priority first. */
  files?: readonly ConfigFileSource[];
  /** Flags from `parseCommandLine`, keyed by flag name without "--". */
  cli?: Record<string, string | boolean>;
}

type Warn = (message: string) => void;

export interface ResolveOptions {
  /** Receives messages about ignored inputs (default: the logger). */
  onWarning?: Warn;
}

interface RawValue {
  value: string;
  /** Where it came from, for error messages. */
  source: string;
}

type RawValues = Map<OptionDef, RawValue>;

/** Where warnings go: to `onWarning` when given, else to the logger. */
export function warningSink(options: ResolveOptions): Warn {
  return options.onWarning ?? ((message: string) => log.warn(message));
}

/** The single schema: every option optional, since absent ones keep their default. */
const SCHEMA = z.object(
  Object.fromEntries(DEFS.map((def) => [def.key, def.type.schema.optional()])),
);

/**
 * Merges the sources by precedence and validates the result with the one schema. Pure: no I/O;
 * ignored inputs (unknown `ipa-*` parameters, unknown config-file keys) go to `onWarning`.
 * Throws `ConfigError` naming the option, the source and the value of each bad setting.
 */
export function resolveConfig(sources: ConfigSources, options: ResolveOptions = {}): Config {
  const warn = warningSink(options);
  const raw: RawValues = new Map();
  const kernel = sources.kernel ?? {};
  addKernel(raw, kernel, warn);
  for (const file of sources.files ?? []) addFile(raw, file, warn);
  addCli(raw, sources.cli ?? {}, warn);
  for (const def of DEFS) {
    const value = def.kernelWins && def.kernel !== null ? kernel[def.kernel] : undefined;
    if (value !== undefined) raw.set(def, { value, source: `kernel parameter ${def.kernel}` });
  }
  return validate(raw);
}

function addKernel(raw: RawValues, kernel: Record<string, string>, warn: Warn): void {
  for (const [name, value] of Object.entries(kernel)) {
    const known = BY_KERNEL.get(name);
    if (known?.def) raw.set(known.def, { value, source: `kernel parameter ${name}` });
    else if (known) warn(`Kernel parameter ${name} has no effect in this agent; ignored`);
    else if (name.startsWith("ipa-") && !KERNEL_ONLY_PARAMS.has(name)) {
      warn(`Unknown kernel parameter ${name}; ignored`);
    }
  }
}

function addFile(raw: RawValues, file: ConfigFileSource, warn: Warn): void {
  for (const [section, entries] of Object.entries(file.sections)) {
    for (const [key, value] of Object.entries(entries)) {
      const where = `config file ${file.path} [${section}] ${key}`;
      const known = section === "DEFAULT"
        ? BY_FILE_KEY.get(fileKeyOf(key))
        : BY_FILE_ALIAS.get(`[${section}] ${key}`);
      if (known?.def && !known.def.cliOnly) raw.set(known.def, { value, source: where });
      else if (known?.def) warn(`Option in ${where} can only be set on the command line; ignored`);
      else if (known) warn(`Option in ${where} has no effect in this agent; ignored`);
      else warn(`Unknown option in ${where}; ignored`);
    }
  }
}

function addCli(raw: RawValues, cli: Record<string, string | boolean>, warn: Warn): void {
  for (const [name, value] of Object.entries(cli)) {
    const known = BY_FLAG.get(flagOf(name));
    if (known === undefined) throw new ConfigError(`Unknown command-line flag "--${name}"`);
    if (known.def === null) {
      warn(`Command-line flag --${known.flag} has no effect in this agent; ignored`);
      continue;
    }
    raw.set(known.def, { value: String(value), source: `command-line flag --${known.flag}` });
  }
}

function validate(raw: RawValues): Config {
  const input = Object.fromEntries([...raw].map(([def, { value }]) => [def.key, value]));
  const result = SCHEMA.safeParse(input);
  if (!result.success) {
    const bad = new Set(result.error.issues.map((issue) => issue.path[0]));
    const messages = [...raw]
      .filter(([def]) => bad.has(def.key))
      .map(([def, value]) => invalidValueMessage(def, value));
    // Every issue is under an option key; the fallback only guards against a zod surprise.
    throw new ConfigError(messages.join("; ") || result.error.message);
  }
  // Sound: `option()` ties each schema's output to the type of its `Config` field.
  return { ...defaultConfig(), ...(result.data as Partial<Config>) };
}

function invalidValueMessage(def: OptionDef, raw: RawValue): string {
  const shown = def.secret ? "<redacted>" : JSON.stringify(raw.value);
  return `Invalid value ${shown} for option ${def.option} (${raw.source}): ` +
    `expected ${def.type.expected}`;
}
