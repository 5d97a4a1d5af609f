/**
 * Fault tests of issue #7 (scope 5), each against the real agent process under its production
 * grants (`deno run -P=agent main.ts`, always with --protect-host):
 *
 * - Ironic unreachable at start: lookup retries for `lookup_timeout`, then the process exits 1
 *   with "Could not look up node info".
 * - Ironic restarting during heartbeats: the agent keeps heartbeating and recovers without a new
 *   lookup or a restart, and (auto-TLS) sends the same certificate before and after.
 * - SIGTERM while a command runs: the command is reported FAILED ("interrupted"), nothing logs
 *   success, and the process exits 143 promptly.
 *
 * A hanging tool is killed by its timeout: src/system/run_test.ts. An image server dropping or
 * stalling mid-download: src/image/download_test.ts and src/image/write_raw_test.ts (image work).
 */
import assert from "node:assert/strict";
import { freePort } from "./harness/process_util.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const NODE = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";
const TOKEN = "T".repeat(43);

interface Spawned extends AsyncDisposable {
  pid: number;
  status: Promise<Deno.CommandStatus>;
  log(): Promise<string>;
}

async function spawnAgent(args: string[]): Promise<Spawned> {
  const dir = await Deno.makeTempDir({ prefix: "resilience-" });
  await Deno.writeTextFile(`${dir}/cmdline`, "");
  const port = freePort();
  const logFile = `${dir}/agent.log`;
  const child = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'exec "$@" >"$0" 2>&1',
      logFile,
      Deno.execPath(),
      "run",
      "-P=agent",
      "--no-prompt",
      "main.ts",
      "--protect-host",
      "--listen-host",
      "127.0.0.1",
      "--listen-port",
      String(port),
      "--advertise-host",
      "127.0.0.1",
      "--advertise-port",
      String(port),
      "--state-dir",
      dir,
      "--cmdline-path",
      `${dir}/cmdline`,
      "--disk-wait-attempts",
      "0",
      "--only-block-devices",
      "/dev/nonexistent-resilience-test",
      ...args.map((a) => a.replaceAll("{port}", String(port))),
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    pid: child.pid,
    status: child.status,
    log: () => Deno.readTextFile(logFile).catch(() => ""),
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exitWithin(status: Promise<Deno.CommandStatus>, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    status.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the agent did not exit within ${ms} ms`)), ms);
    }),
  ]);
}

Deno.test("agent exits 1 with a clear message when Ironic stays unreachable at start", async () => {
  const refused = `http://127.0.0.1:${freePort()}`;
  await using agent = await spawnAgent([
    "--api-url",
    refused,
    "--lookup-timeout",
    "3",
    "--lookup-interval",
    "0.2",
  ]);
  const status = await exitWithin(agent.status, 60_000);
  const log = await agent.log();
  assert.equal(status.code, 1, log);
  const m = /Could not look up node info .*within lookup_timeout 3 s \((\d+) attempts\)/.exec(log);
  assert.ok(m, log);
  assert.ok(Number(m[1]) >= 2, `retried: ${m[1]} attempts`);
  assert.match(log, /agent stopped on a fatal error/);
});

/** A fake Ironic that can be stopped and started again on the same port. */
function fakeIronic(port: number) {
  const heartbeats: { at: number; body: Record<string, unknown> }[] = [];
  let lookups = 0;
  let server: Deno.HttpServer | null = null;
  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const json = (status: number, body: unknown) => Response.json(body, { status });
    if (url.pathname === "/") return json(200, { default_version: { version: "1.82" } });
    if (url.pathname === "/v1/lookup") {
      lookups++;
      return json(200, {
        node: { uuid: NODE, properties: {}, instance_info: {}, driver_internal_info: {} },
        config: { heartbeat_timeout: 1, agent_token: TOKEN },
      });
    }
    if (url.pathname === `/v1/heartbeat/${NODE}`) {
      heartbeats.push({ at: Date.now(), body: await req.json() });
      return new Response(null, { status: 202 });
    }
    return json(404, { error_message: "not found" });
  }
  return {
    heartbeats,
    get lookups() {
      return lookups;
    },
    start() {
      server = Deno.serve(
        { hostname: "127.0.0.1", port, onListen() {} },
        (req) => handle(req),
      );
    },
    async stop() {
      await server?.shutdown();
      server = null;
    },
  };
}

Deno.test("agent keeps heartbeating through an Ironic restart, with the same certificate", async () => {
  const port = freePort();
  const ironic = fakeIronic(port);
  ironic.start();
  try {
    await using agent = await spawnAgent(["--api-url", `http://127.0.0.1:${port}`]);
    await waitFor(() => ironic.heartbeats.length >= 2, 30_000, "two heartbeats");
    await ironic.stop();
    const down = Date.now();
    await new Promise((r) => setTimeout(r, 2_000));
    ironic.start();
    const up = Date.now();
    // After a failure the agent retries every 5-10 s (spec 01 §6).
    await waitFor(
      () => ironic.heartbeats.some((h) => h.at > up),
      20_000,
      "heartbeat after restart",
    );
    const log = await agent.log();
    assert.match(log, /Heartbeat failed: cannot connect to Ironic/, "the outage was noticed");
    assert.equal(ironic.lookups, 1, "recovered without a new lookup");
    let exited = false;
    agent.status.then(() => (exited = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(exited, false, "recovered without a restart");
    const bodies = ironic.heartbeats.map((h) => h.body);
    assert.ok(ironic.heartbeats.some((h) => h.at < down));
    for (const body of bodies) {
      assert.match(String(body.callback_url), /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(body.agent_token, TOKEN);
      assert.equal(body.agent_verify_ca, bodies[0]!.agent_verify_ca, "one certificate per boot");
    }
    assert.match(String(bodies[0]!.agent_verify_ca), /^-----BEGIN CERTIFICATE-----\n/);
    assert.ok(!log.includes(TOKEN), "the token is not in the log");
  } finally {
    await ironic.stop();
  }
});

Deno.test("agent reports a running command as interrupted on SIGTERM and exits 143", async () => {
  await using agent = await spawnAgent([
    "--standalone",
    "--agent-token",
    TOKEN,
    "--hardware-managers",
    `${ROOT}tests/fixtures/hanging_manager.ts`,
  ]);
  const port = Number(
    await (async () => {
      let text = "";
      await waitFor(
        async () => /agent API listening .*port=(\d+)/.test(text = await agent.log()),
        30_000,
        "the API",
      );
      return /agent API listening .*port=(\d+)/.exec(text)![1];
    })(),
  );
  const base = `http://127.0.0.1:${port}/v1/commands/`;
  const res = await fetch(`${base}?agent_token=${TOKEN}`, {
    method: "POST",
    body: JSON.stringify({
      name: "clean.execute_clean_step",
      params: {
        step: { step: "hang", interface: "deploy", args: {} },
        node: { uuid: NODE },
        ports: [],
      },
    }),
  });
  const started = await res.json();
  assert.equal(res.status, 200, JSON.stringify(started));
  assert.equal(started.command_status, "RUNNING");
  await waitFor(async () => /hang step started/.test(await agent.log()), 10_000, "the step");

  Deno.kill(agent.pid, "SIGTERM");
  const status = await exitWithin(agent.status, 15_000);
  const log = await agent.log();
  assert.equal(status.code, 143, log);
  assert.match(log, /received SIGTERM; stopping/);
  assert.match(
    log,
    new RegExp(`command interrupted by shutdown .*command_id=${started.id}.*status=FAILED`),
  );
  assert.doesNotMatch(log, /command succeeded/);
});
