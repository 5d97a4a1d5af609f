/** Config files in oslo.config's INI dialect: the one `--config-file`, or the default locations. */
import { ConfigError } from "../api/errors.ts";
import { type IniDocument, parseIni } from "./ini.ts";

export interface ConfigFileSource {
  path: string;
  sections: IniDocument;
}

/** Where to look when no `--config-file` is given. */
export interface DefaultConfigFiles {
  /** The conventional file, read first when it exists. */
  file: string;
  /** The directory whose `*.conf` files follow it. */
  dir: string;
}

const DEFAULT_FILES: DefaultConfigFiles = {
  file: "/etc/ironic-python-agent.conf",
  dir: "/etc/ironic-python-agent.d",
};

/** Reads and parses one config file; a missing file is an error. */
export async function readConfigFile(path: string): Promise<ConfigFileSource> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotFound ? "no such file" : String(err);
    throw new ConfigError(`Cannot read config file "${path}": ${reason}`, { cause: err });
  }
  try {
    return { path, sections: parseIni(text) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`Cannot parse config file "${path}": ${reason}`, { cause: err });
  }
}

/** The conventional file if it exists, then `*.conf` in the directory, alphabetically. */
export async function readDefaultConfigFiles(
  defaults: DefaultConfigFiles = DEFAULT_FILES,
): Promise<ConfigFileSource[]> {
  const paths = (await exists(defaults.file)) ? [defaults.file] : [];
  const dir = defaults.dir.replace(/\/+$/, "");
  for (const name of await confFileNames(dir)) paths.push(`${dir}/${name}`);
  const files: ConfigFileSource[] = [];
  for (const path of paths) files.push(await readConfigFile(path));
  return files;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw new ConfigError(`Cannot read config file "${path}": ${err}`, { cause: err });
  }
}

/** Like oslo's `--config-dir`: `glob("*.conf")`, so hidden files are skipped, sorted. */
async function confFileNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory || entry.name.startsWith(".")) continue;
      if (entry.name.endsWith(".conf")) names.push(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw new ConfigError(`Cannot list config directory "${dir}": ${err}`, { cause: err });
  }
  return names.sort();
}
