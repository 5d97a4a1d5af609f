/**
 * The module-loading flags of the ramdisk's agent, printed one per line for the launcher
 * (`ipa-agent`, written by bundle.ts), which runs the bundled agent with them:
 *
 *   --allow-import=<hosts>   the hosts of the configured remote hardware managers, from the same
 *                            `importGrantArgs` that launch.ts uses for `deno task start`
 *   --cached-only            kept unless an unpinned remote manager must be fetched by Deno's
 *                            module loader; pinned managers are fetched by the agent and imported
 *                            as data: modules, so they load with it
 *
 * The configuration is read the way the agent reads it (flags, files, kernel command line). If
 * it cannot be read, the agent starts offline without a grant and reports the error itself.
 */
import { loadConfig } from "../src/config.ts";
import { importGrantArgs } from "../src/hardware/import_grant.ts";
import { parseManagerSource } from "../src/hardware/manager_source.ts";
import { systemRunner } from "../src/system/run.ts";

/** The flags for the manager `sources`; an unparsable source counts as needing no network. */
export function moduleFlags(sources: readonly string[]): string[] {
  let grant: string[] = [];
  let fetchesModules = false;
  try {
    grant = importGrantArgs(sources);
    fetchesModules = sources.some((s) => {
      const m = parseManagerSource(s);
      return m.host !== null && m.pin === null;
    });
  } catch {
    // A malformed source: the agent names it at start-up; load nothing remote meanwhile.
    return ["--cached-only"];
  }
  return fetchesModules ? grant : [...grant, "--cached-only"];
}

async function flagsFor(argv: string[]): Promise<string[]> {
  try {
    return moduleFlags((await loadConfig({ argv, runner: systemRunner })).hardwareManagers);
  } catch {
    return ["--cached-only"];
  }
}

if (import.meta.main) {
  const flags = await flagsFor(Deno.args);
  Deno.stdout.writeSync(new TextEncoder().encode(flags.map((f) => `${f}\n`).join("")));
}
