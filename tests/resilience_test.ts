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
import { type AgentProcess, startAgent } from "./harness/agent_process.ts";
import { startFakeIronic } from "./harness/fake_ironic.ts";
import { freePort, sleep, waitFor } from "./harness/process_util.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const NODE = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";
const TOKEN = "T".repeat(43);

interface Spawned extends AsyncDisposable, Pick<AgentProcess, "pid" | "port" | "status"> {
  log(): Promise<string>;
}

/** The agent with its default automatic TLS; its log in a temp dir removed on dispose. */
async function spawnAgent(apiUrl: string, extraArgs: string[] = []): Promise<Spawned> {
  const dir = await Deno.makeTempDir({ prefix: "resilience-" });
  const logFile = `${dir}/agent.log`;
  const agent = await startAgent({
    apiUrl,
    blockDevices: ["/dev/nonexistent-resilience-test"],
    logFile,
    autoTls: true,
    extraArgs,
  }).catch(async (err) => {
    await Deno.remove(dir, { recursive: true });
    throw err;
  });
  return {
    pid: agent.pid,
    port: agent.port,
    status: agent.status,
    log: () => Deno.readTextFile(logFile).catch(() => ""),
    async [Symbol.asyncDispose]() {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
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
  await using agent = await spawnAgent(refused, [
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

Deno.test("agent keeps heartbeating through an Ironic restart, with the same certificate", async () => {
  await using ironic = startFakeIronic({ node: NODE, token: TOKEN });
  await using agent = await spawnAgent(ironic.url);
  await waitFor(() => ironic.heartbeats.length >= 2, 30_000, "two heartbeats");
  await ironic.stop();
  const down = Date.now();
  await sleep(2_000);
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
  await sleep(50);
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
});

Deno.test("agent reports a running command as interrupted on SIGTERM and exits 143", async () => {
  // --standalone: the agent never contacts its API URL (a closed port here).
  await using agent = await spawnAgent(`http://127.0.0.1:${freePort()}`, [
    "--standalone",
    "--agent-token",
    TOKEN,
    "--hardware-managers",
    `${ROOT}tests/fixtures/hanging_manager.ts`,
  ]);
  const listening = new RegExp(`agent API listening .*port=${agent.port}\\b`);
  await waitFor(async () => listening.test(await agent.log()), 30_000, "the API");
  const base = `http://127.0.0.1:${agent.port}/v1/commands/`;
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
