/**
 * `system.lockdown` against the real agent process (spec 03 §8, issue #7 scope 3): after the
 * answer, the API stops answering (also on the connection that carried the request), heartbeats
 * and every other request to Ironic stop, the interfaces would be brought down (logged only:
 * --protect-host), and the process idles until SIGTERM instead of exiting, so an init system
 * does not restart a locked-down agent.
 */
import assert from "node:assert/strict";
import { startAgent } from "./harness/agent_process.ts";
import { startFakeIronic } from "./harness/fake_ironic.ts";
import { waitFor } from "./harness/process_util.ts";

const NODE = "6f3c2a8e-5a1b-4c55-9c0e-2f6d1f0b7a11";
const TOKEN = "L".repeat(43);
/** Heartbeats come every heartbeat_timeout × U(0.3, 0.6) s: 0.3-0.6 s with this value. */
const HEARTBEAT_TIMEOUT = 1;
/** How long the fake Ironic must hear nothing after the API went away: > 6 heartbeat periods. */
const QUIET_WINDOW_MS = 4_000;

Deno.test("system.lockdown stops the API, heartbeats and outbound traffic, then idles until SIGTERM", async () => {
  await using ironic = startFakeIronic({
    node: NODE,
    token: TOKEN,
    heartbeatTimeout: HEARTBEAT_TIMEOUT,
  });
  const dir = await Deno.makeTempDir({ prefix: "lockdown-" });
  const logFile = `${dir}/agent.log`;
  const agent = await startAgent({
    apiUrl: ironic.url,
    blockDevices: ["/dev/nonexistent-lockdown-test"],
    logFile,
    autoTls: true,
    stopGraceMs: 10_000,
  });
  const port = agent.port;
  const log = () => Deno.readTextFile(logFile).catch(() => "");
  let client: Deno.HttpClient | null = null;
  try {
    await waitFor(() => ironic.heartbeats.length >= 2, 30_000, "two heartbeats", 50);
    // Auto-TLS is on (API 1.82): trust exactly the certificate the agent pinned in Ironic.
    const ca = String(ironic.heartbeats[0]!.body.agent_verify_ca);
    assert.match(ca, /^-----BEGIN CERTIFICATE-----/);
    client = Deno.createHttpClient({ caCerts: [ca] });
    const base = `https://127.0.0.1:${port}/v1/commands/`;
    const before = await fetch(base, { client, headers: { "x-agent-token": TOKEN } });
    await before.body?.cancel();
    assert.equal(before.status, 200, "the API answers before lockdown");

    const res = await fetch(base, {
      client,
      method: "POST",
      headers: { "x-agent-token": TOKEN, "content-type": "application/json" },
      body: JSON.stringify({ name: "system.lockdown", params: {} }),
    });
    const body = await res.json();
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.command_status, "SUCCEEDED");
    assert.equal(body.command_result, null);

    // The conductor polls GET /v1/commands/ expecting a connection failure (spec 03 §8). The very
    // next request, on the same client (so on the kept-alive connection if it were still open),
    // must already fail: nothing after the lockdown answer is answered.
    const next = await fetch(base, { client, headers: { "x-agent-token": TOKEN } }).then(
      async (r) => {
        await r.body?.cancel();
        return `answered ${r.status}`;
      },
      () => "refused",
    );
    const refusedAt = Date.now();
    assert.equal(next, "refused", "the request right after the lockdown answer");

    await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
    const late = ironic.requests.filter((r) => r.at > refusedAt);
    assert.deepEqual(late, [], "no request reaches Ironic once the API is down");
    const freshClient = Deno.createHttpClient({ caCerts: [ca] });
    const fresh = await fetch(base, { client: freshClient }).then(
      async (r) => {
        await r.body?.cancel();
        return "answered";
      },
      () => "refused",
    );
    freshClient.close();
    assert.equal(fresh, "refused", "a new connection is refused as well");

    const text = await log();
    assert.match(text, /lockdown requested/);
    assert.match(text, /protect-host: would run "ip link set \S+ down"/);
    assert.doesNotMatch(text, /could not bring interface down/, "nothing was run");
    assert.match(text, /locked down: idling until the machine is powered off/);
    assert.equal(agent.exited, false, `the agent keeps idling after lockdown; log:\n${text}`);

    // SIGTERM, then SIGKILL after stopGraceMs.
    const { code } = await agent.stop();
    assert.equal(code, 143, `SIGTERM ends the idle agent; log:\n${await log()}`);
    assert.ok(!(await log()).includes(TOKEN), "the token is not in the log");
  } finally {
    client?.close();
    await agent.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
