/**
 * A real ironic-inspector (Debian bookworm's 11.1, package `ironic-inspector`) beside the
 * harness Ironic 21.4: standalone (API and conductor in one process), no keystone, sqlite, the
 * `noop` PXE filter, listening on 127.0.0.1 only, everything in one temporary state dir.
 * It talks to Ironic at `ironicUrl`; Ironic's `inspector` inspect interface talks to it.
 *
 *   await using inspector = await startInspector({ ironicUrl: ironic.url });
 *   inspector.url // "http://127.0.0.1:<port>", the agent posts to `${url}/v1/continue`
 *
 * Disposing stops the process group by PID and removes the state dir.
 */
import { freePort, readTail, sleep, spawnGroup, stopGroup } from "./process_util.ts";

export interface InspectorInstance extends AsyncDisposable {
  readonly url: string;
  readonly pid: number;
  readonly stateDir: string;
  readonly logFile: string;
  /** `GET /v1/introspection/{uuid}`: `finished`, `error`, `state`, ... */
  status(node: string): Promise<Record<string, unknown>>;
  logTail(lines?: number): Promise<string>;
}

export interface InspectorOptions {
  ironicUrl: string;
  /** The port to listen on (Ironic's `[inspector]endpoint_override` names it before start). */
  port?: number;
  /** Bound on the schema migration and start-up; 60 s. */
  startTimeoutMs?: number;
  keepStateDir?: boolean;
}

const BINARIES = ["/usr/bin/ironic-inspector", "/usr/bin/ironic-inspector-dbsync"];

/** Whether Debian's ironic-inspector is installed (the test is skipped otherwise). */
export async function hasInspector(): Promise<boolean> {
  for (const bin of BINARIES) {
    try {
      await Deno.stat(bin);
    } catch {
      return false;
    }
  }
  return true;
}

function config(stateDir: string, port: number, ironicUrl: string): string {
  return [
    "[DEFAULT]",
    "auth_strategy = noauth",
    "listen_address = 127.0.0.1",
    `listen_port = ${port}`,
    "standalone = true",
    "transport_url = fake://",
    "debug = true",
    "use_stderr = false",
    `log_file = ${stateDir}/inspector.log`,
    "introspection_delay = 0",
    "[ironic]",
    "auth_type = none",
    `endpoint_override = ${ironicUrl}`,
    "[database]",
    `connection = sqlite:///${stateDir}/inspector.sqlite`,
    "[pxe_filter]",
    "driver = noop",
    "[processing]",
    "store_data = none",
    "[oslo_concurrency]",
    `lock_path = ${stateDir}/locks`,
    "",
  ].join("\n");
}

export async function startInspector(options: InspectorOptions): Promise<InspectorInstance> {
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  const stateDir = await Deno.makeTempDir({ prefix: "inspector-e2e-" });
  const keep = options.keepStateDir ?? Deno.env.get("IRONIC_E2E_KEEP") === "1";
  const port = options.port ?? freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = `${stateDir}/inspector.conf`;
  const logFile = `${stateDir}/inspector.log`;
  const consoleFile = `${stateDir}/console.log`;
  await Deno.mkdir(`${stateDir}/locks`);
  await Deno.writeTextFile(configFile, config(stateDir, port, options.ironicUrl));
  const migrate = await new Deno.Command("ironic-inspector-dbsync", {
    args: ["--config-file", configFile, "upgrade"],
    cwd: stateDir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(Math.max(deadline - Date.now(), 1000)),
  }).output();
  if (!migrate.success) {
    if (!keep) await Deno.remove(stateDir, { recursive: true });
    throw new Error(
      `Cannot create the ironic-inspector schema: ${new TextDecoder().decode(migrate.stderr)}`,
    );
  }
  const child = spawnGroup(["ironic-inspector", "--config-file", configFile], {
    logFile: consoleFile,
    cwd: stateDir,
  });
  const instance: InspectorInstance = {
    url,
    pid: child.pid,
    stateDir,
    logFile,
    async status(node) {
      const response = await fetch(`${url}/v1/introspection/${encodeURIComponent(node)}`, {
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(`GET introspection ${node}: ${JSON.stringify(body)}`);
      return body;
    },
    logTail: (lines = 100) => readTail(logFile, lines),
    async [Symbol.asyncDispose]() {
      await stopGroup(child, { graceMs: 10_000 });
      if (!keep) await Deno.remove(stateDir, { recursive: true });
    },
  };
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (child.exited) break;
    try {
      const response = await fetch(`${url}/v1`, { signal: AbortSignal.timeout(2_000) });
      await response.body?.cancel();
      if (response.ok) return instance;
      last = `HTTP ${response.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  const tail = (await readTail(consoleFile, 30)) + (await readTail(logFile, 30));
  await instance[Symbol.asyncDispose]();
  throw new Error(`Cannot start ironic-inspector on ${url} (${last}):\n${tail}`);
}
