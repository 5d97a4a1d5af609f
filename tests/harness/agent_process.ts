/**
 * The agent as a subprocess, with the production grants (`deno run -P=agent main.ts`), talking
 * to a real Ironic on 127.0.0.1. Each start is one "boot" of the emulated machine: a fresh
 * listen port, state dir and (empty) kernel command line. It runs in its own process group;
 * stopping it signals the whole group by PID.
 *
 *   await using agent = await startAgent({ apiUrl: ironic.url, blockDevices: [disk.path],
 *     logFile: `${dir}/agent-1.log` });
 */

import { freePort, type GroupLeader, spawnGroup, stopGroup } from "./process_util.ts";

/** The repository root (where main.ts and deno.json live). */
const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

export interface AgentOptions {
  /** Ironic API, e.g. `http://127.0.0.1:6385`. */
  apiUrl: string;
  /** `--only-block-devices`: the loop devices the agent may see and write. */
  blockDevices: readonly string[];
  /** stdout and stderr go here (appended). The caller owns the file. */
  logFile: string;
  /** Extra agent flags, after the standard ones. */
  extraArgs?: readonly string[];
  /**
   * Automatic TLS (spec 01 §8): the agent serves HTTPS with a generated certificate and sends it
   * as `agent_verify_ca`. Off by default (`--no-enable-auto-tls`), so the other tests stay on
   * plain HTTP.
   */
  autoTls?: boolean;
  /** SIGTERM-to-SIGKILL bound when stopping; 5 s. */
  stopGraceMs?: number;
  /** Leave the state dir after stopping (the caller reads it, then removes it). */
  keepStateDir?: boolean;
}

export interface AgentProcess extends AsyncDisposable {
  readonly pid: number;
  readonly port: number;
  /** `http(s)://127.0.0.1:<port>`, what the agent advertises. */
  readonly url: string;
  readonly logFile: string;
  readonly stateDir: string;
  readonly args: readonly string[];
  /** Resolves when the process ends. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Whether the process has ended (by itself or stopped). */
  readonly exited: boolean;
  /** Stops the process group (SIGTERM, then SIGKILL) and removes the state dir. */
  stop(): Promise<Deno.CommandStatus>;
}

/** What an `AgentProcess` is apart from `exited`, `stop` and disposal. */
export type AgentProcessFields = Omit<AgentProcess, "exited" | "stop" | typeof Symbol.asyncDispose>;

/**
 * Completes `fields` into an `AgentProcess` (or a richer handle, with whatever else `fields`
 * holds): `exited` asks `hasExited` each time; `stopOnce` runs on the first `stop()` only, and
 * later calls and disposal share its result.
 */
export function agentProcess<T extends AgentProcessFields>(
  fields: T,
  hasExited: () => boolean,
  stopOnce: () => Promise<Deno.CommandStatus>,
): T & AgentProcess {
  let stopping: Promise<Deno.CommandStatus> | null = null;
  const stop = () => stopping ??= stopOnce();
  return {
    ...fields,
    get exited() {
      return hasExited();
    },
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}

/** The agent command line for one boot (without the `deno` executable). */
export function agentArgs(
  options: Pick<AgentOptions, "apiUrl" | "blockDevices" | "extraArgs" | "autoTls">,
  boot: { port: number; stateDir: string; cmdlinePath: string },
): string[] {
  return [
    "run",
    "-P=agent",
    "--no-prompt",
    "main.ts",
    "--api-url",
    options.apiUrl,
    "--listen-host",
    "127.0.0.1",
    "--listen-port",
    String(boot.port),
    "--advertise-host",
    "127.0.0.1",
    "--advertise-port",
    String(boot.port),
    "--protect-host",
    "--only-block-devices",
    options.blockDevices.join(","),
    "--state-dir",
    boot.stateDir,
    "--cmdline-path",
    boot.cmdlinePath,
    "--disk-wait-attempts",
    "0",
    "--debug",
    ...(options.autoTls ? [] : ["--no-enable-auto-tls"]),
    ...(options.extraArgs ?? []),
  ];
}

/** Starts the agent; returns once the process is spawned (it then looks Ironic up itself). */
export async function startAgent(options: AgentOptions): Promise<AgentProcess> {
  if (options.blockDevices.length === 0) {
    throw new RangeError("Cannot start the agent: no block devices to expose");
  }
  const port = freePort();
  const stateDir = await Deno.makeTempDir({ prefix: "agent-e2e-state-" });
  const cmdlinePath = `${stateDir}/cmdline`;
  await Deno.writeTextFile(cmdlinePath, "");
  const args = agentArgs(options, { port, stateDir, cmdlinePath });
  await Deno.writeTextFile(
    options.logFile,
    `# ${new Date().toISOString()} deno ${args.join(" ")}\n`,
    { append: true },
  );
  let child: GroupLeader;
  try {
    child = spawnGroup([Deno.execPath(), ...args], {
      logFile: options.logFile,
      cwd: ROOT,
      env: { NO_COLOR: "1" },
    });
  } catch (err) {
    await Deno.remove(stateDir, { recursive: true });
    throw err;
  }
  return agentProcess(
    {
      pid: child.pid,
      port,
      url: `${options.autoTls ? "https" : "http"}://127.0.0.1:${port}`,
      logFile: options.logFile,
      stateDir,
      args,
      status: child.status,
    },
    () => child.exited,
    async () => {
      const result = await stopGroup(child, { graceMs: options.stopGraceMs ?? 5_000 });
      if (!options.keepStateDir) await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      return result;
    },
  );
}
