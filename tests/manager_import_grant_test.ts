/**
 * The import grant of remote hardware managers, with the real agent process: `launch.ts` grants
 * the configured manager's host and the agent runs its step; a host outside the grant stops
 * start-up with a message naming it. Managers come from a `Deno.serve` file server on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { freePort } from "./harness/process_util.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SITE = await Deno.readFile(`${ROOT}managers/examples/site_manager.ts`);

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function serveSite() {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/site_manager.ts"
        ? new Response(SITE, { headers: { "content-type": "application/typescript" } })
        : new Response("not found", { status: 404 }),
  );
  return { port: server.addr.port, server };
}

function agentArgs(port: number, manager: string, token: string, stateDir: string): string[] {
  return [
    "--standalone",
    "--protect-host",
    "--listen-host=127.0.0.1",
    `--listen-port=${port}`,
    `--agent-token=${token}`,
    "--cmdline-path=/dev/null",
    "--disk-wait-attempts=0",
    `--state-dir=${stateDir}`,
    `--hardware-managers=${manager}`,
  ];
}

Deno.test("the agent refuses a manager whose host is not in its import grant", async () => {
  const { port, server } = serveSite();
  const stateDir = await Deno.makeTempDir({ prefix: "agent-state-" });
  try {
    // Granted 127.0.0.1:<port>, asked for localhost:<port>: same server, different grant entry.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-P=agent",
        `--allow-import=127.0.0.1:${port}`,
        "main.ts",
        ...agentArgs(
          freePort(),
          `http://localhost:${port}/site_manager.ts`,
          "t".repeat(32),
          stateDir,
        ),
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(30_000),
    });
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, text);
    assert.match(
      text,
      new RegExp(`host \\\\?"localhost:${port}\\\\?" is not in this process's import grant`),
    );
  } finally {
    await server.shutdown();
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("launch.ts grants the manager's host; the pinned manager's step is offered", async () => {
  const { port, server } = serveSite();
  const agentPort = freePort();
  const token = crypto.randomUUID().replaceAll("-", "");
  const manager = `http://127.0.0.1:${port}/site_manager.ts#sha256=${await sha256(SITE)}`;
  const stateDir = await Deno.makeTempDir({ prefix: "agent-state-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-P=launcher", "launch.ts", ...agentArgs(agentPort, manager, token, stateDir)],
    cwd: ROOT,
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  try {
    let body: { command_result?: { clean_steps?: Record<string, { step: string }[]> } } = {};
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !body.command_result) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        const res = await fetch(
          `http://127.0.0.1:${agentPort}/v1/commands/?wait=true&agent_token=${token}`,
          {
            method: "POST",
            body: JSON.stringify({
              name: "clean.get_clean_steps",
              params: { node: { uuid: "n" }, ports: [] },
            }),
          },
        );
        body = await res.json();
      } catch {
        // Not listening yet.
      }
    }
    const steps = body.command_result?.clean_steps?.SiteManager ?? [];
    assert.deepEqual(steps.map((s) => s.step), ["record_asset_tag"], JSON.stringify(body));
  } finally {
    try {
      child.kill("SIGTERM"); // the launcher forwards it to the agent
    } catch {
      // Already exited: the assertion above says why the steps were missing.
    }
    await child.status;
    await server.shutdown();
    await Deno.remove(stateDir, { recursive: true });
  }
});
