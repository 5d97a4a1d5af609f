/**
 * A zero-work agent: the smallest thing a real Ironic conductor accepts as its ramdisk agent,
 * for the benchmark's baseline. It looks the node up, heartbeats with IPA's interval rule
 * (spec 01 §6), and answers the commands of a clean → deploy → undeploy flow as IPA would
 * (spec 02 §6, 11 §3-4) without touching any disk: steps succeed at once, `install_bootloader`
 * and `power_off` do nothing, the ramdisk logs are an empty tarball.
 *
 * It runs inside the calling process (no spawn, no start-up cost), bound to 127.0.0.1, and has
 * the `start` signature of `watchPower`, so it plays the machine's ramdisk in place of the real
 * agent:
 *
 *   watchPower(client, node, { agent: {...}, logDir, start: startZeroWorkAgent });
 */

import { type AgentOptions, type AgentProcess, agentProcess } from "./agent_process.ts";

/** IPA-style version strings; the conductor only stores them (spec 11 §9). */
const AGENT_VERSION = "0.0.0-zero-work";
const MANAGER_VERSION = { generic_hardware_manager: "1.2" };
/** Bound on lookups before the node is in a state that answers them (1 s apart). */
const LOOKUP_ATTEMPTS = 120;

/** The in-band steps the real agent's generic manager offers for each kind (no work here). */
const STEPS: Record<string, Record<string, unknown>[]> = {
  clean: [
    { step: "erase_devices", priority: 10, interface: "deploy", reboot_requested: false },
    { step: "erase_devices_metadata", priority: 99, interface: "deploy", reboot_requested: false },
  ],
  deploy: [
    { step: "write_image", priority: 0, interface: "deploy", reboot_requested: false },
  ],
  service: [],
};

interface Command {
  id: string;
  command_name: string;
  command_status: "SUCCEEDED";
  command_error: null;
  command_result: unknown;
}

/** An empty gzip'd tar (two zero blocks), base64: what `log.collect_system_logs` returns. */
async function emptyLogTarball(): Promise<string> {
  const gz = new Blob([new Uint8Array(1024)]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(gz).arrayBuffer()).toBase64();
}

/** What each command returns, by full name; unknown commands succeed with no result. */
async function resultOf(name: string, params: Record<string, unknown>): Promise<unknown> {
  const [ext, cmd] = name.split(".", 2) as [string, string];
  const steps = /^get_(clean|deploy|service)_steps$/.exec(cmd);
  if (steps) {
    return {
      [`${steps[1]}_steps`]: { GenericHardwareManager: STEPS[steps[1]!] },
      hardware_manager_version: MANAGER_VERSION,
    };
  }
  const execute = /^execute_(clean|deploy|service)_step$/.exec(cmd);
  if (execute) return { [`${execute[1]}_result`]: null, [`${execute[1]}_step`]: params.step };
  if (ext === "log" && cmd === "collect_system_logs") {
    return { system_logs: await emptyLogTarball() };
  }
  if (ext === "standby" && cmd === "get_partition_uuids") return {};
  return null;
}

/** Starts the zero-work agent for one "boot"; stop() ends its server and heartbeat loop. */
export async function startZeroWorkAgent(options: AgentOptions): Promise<AgentProcess> {
  const stateDir = await Deno.makeTempDir({ prefix: "zero-work-agent-" });
  const encoder = new TextEncoder();
  const log = (message: string) =>
    Deno.writeFile(
      options.logFile,
      encoder.encode(`${new Date().toISOString()} ${message}\n`),
      { append: true },
    ).catch(() => {});
  const stopping = new AbortController();
  const commands: Command[] = [];
  let token: string | null = null;

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stopping.signal, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      if (url.pathname === "/v1/commands/" || url.pathname === "/v1/commands") {
        if (req.method === "GET") return Response.json({ commands });
        if (token !== null && url.searchParams.get("agent_token") !== token) {
          return Response.json({ faultstring: "Invalid or missing agent token" }, { status: 401 });
        }
        const body = await req.json() as { name: string; params?: Record<string, unknown> };
        const command: Command = {
          id: crypto.randomUUID(),
          command_name: body.name.split(".").at(-1)!,
          command_status: "SUCCEEDED",
          command_error: null,
          command_result: await resultOf(body.name, body.params ?? {}),
        };
        commands.push(command);
        await log(`command ${body.name} SUCCEEDED`);
        return Response.json(command);
      }
      if (url.pathname === "/v1/status" || url.pathname === "/") {
        return Response.json({ started_at: 0, version: AGENT_VERSION });
      }
      return Response.json({ faultstring: `Not found: ${url.pathname}` }, { status: 404 });
    },
  );
  const port = server.addr.port;
  const callbackUrl = `http://127.0.0.1:${port}`;
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json",
    "X-OpenStack-Ironic-API-Version": "1.68",
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      stopping.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });

  async function lookup(): Promise<{ uuid: string; timeout: number } | null> {
    const addresses = [
      ...new Set(
        Deno.networkInterfaces().map((i) => i.mac).filter((m) => m !== "00:00:00:00:00:00"),
      ),
    ];
    for (let attempt = 1; attempt <= LOOKUP_ATTEMPTS && !stopping.signal.aborted; attempt++) {
      try {
        const res = await fetch(
          `${options.apiUrl}/v1/lookup?addresses=${addresses.join(",")}`,
          { headers, signal: AbortSignal.timeout(10_000) },
        );
        const body = await res.json();
        if (res.ok) {
          token = body.config?.agent_token ?? null;
          return { uuid: body.node.uuid, timeout: Number(body.config?.heartbeat_timeout ?? 300) };
        }
        await log(`lookup answered ${res.status}, attempt ${attempt}`);
      } catch (err) {
        await log(`lookup failed, attempt ${attempt}: ${(err as Error).message}`);
      }
      await sleep(1000);
    }
    return null;
  }

  const loop = (async () => {
    const node = await lookup();
    if (!node) return 1;
    await log(`looked up node ${node.uuid}`);
    while (!stopping.signal.aborted) {
      let interval: number;
      try {
        const res = await fetch(`${options.apiUrl}/v1/heartbeat/${node.uuid}`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            callback_url: callbackUrl,
            agent_token: token,
            agent_version: AGENT_VERSION,
          }),
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel();
        interval = res.status === 202
          ? node.timeout * (0.3 + Math.random() * 0.3)
          : 5 * (1 + Math.random());
      } catch {
        interval = 5 * (1 + Math.random());
      }
      await sleep(interval * 1000);
    }
    return 0;
  })();

  let exited = false;
  const status: Promise<Deno.CommandStatus> = (async () => {
    const code = await loop.catch(() => 1);
    stopping.abort();
    await server.finished;
    exited = true;
    return { success: code === 0, code, signal: null };
  })();
  await log(`zero-work agent listening on ${callbackUrl}`);
  return agentProcess(
    {
      // In-process: the benchmark's own PID; nothing signals it (stop() is used instead).
      pid: Deno.pid,
      port,
      url: callbackUrl,
      logFile: options.logFile,
      stateDir,
      args: [],
      status,
    },
    () => exited,
    async () => {
      stopping.abort();
      const result = await status;
      if (!options.keepStateDir) await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      return result;
    },
  );
}
