/**
 * The import grant for remote hardware managers. `--allow-import=<hosts>` replaces Deno's
 * built-in list of import hosts, so granting exactly the hosts named in `--hardware-managers`
 * means no other host can be imported from, by the manager or by anything it imports.
 */
import { HardwareManagerConfigurationError } from "../api/errors.ts";
import { parseManagerSource } from "./manager_source.ts";

/** `host[:port]` of every http(s) manager, sorted, without duplicates. */
export function importHosts(sources: readonly string[]): string[] {
  const hosts = sources.map((s) => parseManagerSource(s).host).filter((h) => h !== null);
  return [...new Set(hosts)].sort();
}

/** The Deno flag granting exactly those hosts, or none when every manager is local. */
export function importGrantArgs(sources: readonly string[]): string[] {
  const hosts = importHosts(sources);
  return hosts.length ? [`--allow-import=${hosts.join(",")}`] : [];
}

/** Refuses a remote manager whose host this process may not import from. */
export async function assertImportGranted(source: string, host: string): Promise<void> {
  const status = await Deno.permissions.query({ name: "import", host });
  if (status.state !== "granted") {
    throw new HardwareManagerConfigurationError(
      `Cannot load hardware manager ${source}: host "${host}" is not in this process's import ` +
        `grant; start the agent with launch.ts, which grants --allow-import=${host}`,
    );
  }
}
