/**
 * Starts the real agent (`main.ts` under the `agent` permission set) in standalone mode on
 * 127.0.0.1 for tests and benchmarks, and stops it by PID on dispose.
 */
import { freePort } from "./process_util.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

export interface StandaloneAgent extends AsyncDisposable {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  /** Milliseconds from spawn to the first 200 on /v1/status. */
  readonly startupMs: number;
  /** The agent's log so far (stderr). */
  logText(): string;
  /** `POST /v1/commands/` with the token; returns the command result object. */
  command(name: string, params: Record<string, unknown>, wait?: boolean): Promise<
    { status: number; body: Record<string, unknown> }
  >;
}

export interface StandaloneOptions {
  onlyBlockDevices?: string[];
  extraArgs?: string[];
  /** Upper bound for start-up (default 30 s). */
  startTimeoutMs?: number;
}

export async function startStandaloneAgent(
  options: StandaloneOptions = {},
): Promise<StandaloneAgent> {
  const port = freePort();
  const stateDir = await Deno.makeTempDir({ prefix: "agent-state-" });
  const cmdline = `${stateDir}/cmdline`;
  await Deno.writeTextFile(cmdline, "");
  const token = crypto.randomUUID().replaceAll("-", "") + "x".repeat(11);
  const args = [
    "run",
    "-P=agent",
    "--no-prompt",
    "main.ts",
    "--standalone",
    "--protect-host",
    "--listen-host",
    "127.0.0.1",
    "--listen-port",
    String(port),
    "--agent-token",
    token,
    "--cmdline-path",
    cmdline,
    "--state-dir",
    stateDir,
    "--disk-wait-attempts",
    "0",
    ...(options.onlyBlockDevices?.length
      ? ["--only-block-devices", options.onlyBlockDevices.join(",")]
      : []),
    ...(options.extraArgs ?? []),
  ];
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let log = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) log += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  const url = `http://127.0.0.1:${port}`;

  async function stop() {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }, 5000);
    await child.status;
    clearTimeout(timer);
    await drained;
    await Deno.remove(stateDir, { recursive: true });
  }

  const deadline = started + (options.startTimeoutMs ?? 30_000);
  let startupMs = -1;
  while (performance.now() < deadline) {
    try {
      const res = await fetch(`${url}/v1/status`);
      await res.body?.cancel();
      if (res.status === 200) {
        startupMs = performance.now() - started;
        break;
      }
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (startupMs < 0) {
    await stop();
    throw new Error(`agent did not answer /v1/status within the bound; log:\n${log}`);
  }

  return {
    url,
    token,
    pid: child.pid,
    startupMs,
    logText: () => log,
    async command(name, params, wait = true) {
      const res = await fetch(`${url}/v1/commands/?wait=${wait}&agent_token=${token}`, {
        method: "POST",
        body: JSON.stringify({ name, params }),
      });
      return { status: res.status, body: await res.json() };
    },
    [Symbol.asyncDispose]: stop,
  };
}
