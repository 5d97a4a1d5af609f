/**
 * Every name the sources know an option by: its command-line flag, kernel parameter, config-file
 * key and deprecated `[section] key` alias, for options of the table and ignored IPA options alike,
 * with one lookup map per source.
 */
import { DEFS, IGNORED_OPTIONS, type OptionDef } from "./options.ts";

/** Kernel parameters other modules read directly (spec 10 §2); not options, but not unknown. */
export const KERNEL_ONLY_PARAMS: ReadonlySet<string> = new Set([
  "ipa-inspection-benchmarks",
  "ipa-use-mdns",
]);

/** One entry of either table, as the parsers and `describeOptions` see it. */
export interface Known {
  readonly option: string;
  readonly flag: string;
  readonly kernel: string | null;
  readonly boolean: boolean;
  readonly description: string;
  /** Null for an ignored option. */
  readonly def: OptionDef | null;
  /** The default as text, for ignored options (the others take theirs from `defaultConfig`). */
  readonly ignoredDefault: string;
}

export const KNOWN: readonly Known[] = [
  ...DEFS.map((def) => ({
    option: def.option,
    flag: flagOf(def.option),
    kernel: def.kernel,
    boolean: def.type.boolean === true,
    description: def.description,
    def,
    ignoredDefault: "",
  })),
  ...IGNORED_OPTIONS.map((ignored) => ({
    option: ignored.option,
    flag: flagOf(ignored.option),
    kernel: ignored.kernel,
    boolean: ignored.boolean,
    description: ignored.description,
    def: null,
    ignoredDefault: ignored.default,
  })),
];

export const BY_FLAG = new Map(KNOWN.map((known) => [known.flag, known]));
export const BY_FILE_KEY = new Map(KNOWN.map((known) => [fileKeyOf(known.option), known]));
export const BY_KERNEL = new Map(
  KNOWN.filter((known) => known.kernel !== null).map((known) => [known.kernel, known]),
);
export const BY_FILE_ALIAS = new Map(
  KNOWN.flatMap((known) => (known.def?.fileAliases ?? []).map((alias) => [alias, known])),
);

/** `guard-special-filesystems` already uses dashes; every other option gets them here. */
export function flagOf(option: string): string {
  return option.replaceAll("_", "-");
}

/** Config files accept both `_` and `-` spellings of a key. */
export function fileKeyOf(key: string): string {
  return key.replaceAll("-", "_");
}
