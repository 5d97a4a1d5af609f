/**
 * Entry point: wiring only. Parse the configuration, then run the agent until it is told to
 * stop. Exits non-zero on a fatal error (bad configuration, lookup timed out) so the ramdisk's
 * init system restarts it (spec 01 §1).
 */
import { Agent } from "./src/agent.ts";
import { AgentError } from "./src/api/errors.ts";
import { describeOptions, loadConfig } from "./src/config.ts";
import { log, setLevel } from "./src/log.ts";
import { systemRunner } from "./src/system/run.ts";

function usage(): string {
  const lines = describeOptions().map((o) =>
    `  ${o.flag.padEnd(44)} ${o.description}${o.kernel ? ` [${o.kernel}]` : ""}`
  );
  return `Usage: main.ts [options]\n\nOptions (kernel parameter in brackets):\n${
    lines.join("\n")
  }\n`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    Deno.stdout.writeSync(new TextEncoder().encode(usage()));
    return 0;
  }
  let config;
  try {
    config = await loadConfig({ argv, runner: systemRunner });
  } catch (err) {
    log.error(err instanceof AgentError ? err.details : `Cannot read configuration: ${err}`);
    return 2;
  }
  setLevel(config.debug ? "debug" : "info");

  const shutdown = new AbortController();
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => {
      log.warn(`received ${signal}; stopping`);
      shutdown.abort(signal);
    });
  }
  const agent = new Agent({ config, runner: systemRunner, log, signal: shutdown.signal });
  try {
    await agent.run();
  } catch (err) {
    log.error("agent stopped on a fatal error", {
      error: err instanceof Error ? err.message : String(err),
    });
    return 1;
  }
  return shutdown.signal.aborted ? 143 : 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
