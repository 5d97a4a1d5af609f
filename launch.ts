/**
 * Production launcher: starts `main.ts` under the `agent` permission set plus an import grant
 * built from the configured `--hardware-managers` URLs (`src/hardware/import_grant.ts`), so
 * remote managers can be imported from exactly those hosts and no other. Arguments are passed
 * through; signals are forwarded; the exit code is the agent's.
 *
 * The configuration is read the same way the agent reads it (flags, files, kernel command line).
 * If it cannot be read, the agent starts without a grant and reports the error itself.
 */
import { loadConfig } from "./src/config.ts";
import { importGrantArgs } from "./src/hardware/import_grant.ts";
import { log } from "./src/log.ts";
import { systemRunner } from "./src/system/run.ts";

const ROOT = new URL("./", import.meta.url).pathname;

async function grantFor(argv: string[]): Promise<string[]> {
  try {
    return importGrantArgs((await loadConfig({ argv, runner: systemRunner })).hardwareManagers);
  } catch {
    return [];
  }
}

if (import.meta.main) {
  const grant = await grantFor(Deno.args);
  if (grant.length) log.info("granting imports for hardware managers", { grant: grant[0] });
  // `deno` by name: the `launcher` permission set grants exactly that (not a path).
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("deno", {
      args: [
        "run",
        "-P=agent",
        "--config",
        `${ROOT}deno.json`,
        ...grant,
        `${ROOT}main.ts`,
        ...Deno.args,
      ],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (err) {
    log.error("cannot start the agent: `deno` must be on PATH (bash .ci/setup links it)", {
      error: err,
    });
    Deno.exit(1);
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => child.kill(signal));
  }
  Deno.exit((await child.status).code);
}
