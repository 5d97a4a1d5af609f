/** The option reference: every option's names, default and description, for the README and `--help`. */
import type { Config } from "../config.ts";
import { defaultConfig } from "./defaults.ts";
import { KNOWN } from "./known_options.ts";

export interface OptionDescription {
  /** E.g. `--api-url`. */
  flag: string;
  /** E.g. `ipa-api-url`, or null when the kernel cannot set it. */
  kernel: string | null;
  /** Config-file key in `[DEFAULT]`, e.g. `api_url`. */
  option: string;
  /** The built-in default as text; "" when there is none. */
  default: string;
  description: string;
}

/** Every option, in table order, for the README and `--help`. */
export function describeOptions(): OptionDescription[] {
  const defaults = defaultConfig();
  return KNOWN.map((known) => ({
    flag: `--${known.flag}`,
    kernel: known.kernel,
    option: known.option,
    default: known.def === null ? known.ignoredDefault : formatDefault(defaults[known.def.key]),
    description: known.description,
  }));
}

function formatDefault(value: Config[keyof Config]): string {
  if (value === null) return "";
  if (Array.isArray(value)) return value.join(",");
  return String(value);
}
