import assert from "node:assert/strict";
import { Agent } from "./agent.ts";
import { defaultConfig } from "./config.ts";
import { ironicError, json, startFakeIronic } from "./ironic/_test_ironic.ts";
import { LookupNodeError } from "./api/errors.ts";
import { Logger, setSink } from "./log.ts";
import { systemRunner } from "./system/run.ts";
import { freePort } from "../tests/harness/process_util.ts";

setSink(() => {});

const NODE = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";
const TOKEN_A = "A".repeat(43);
const TOKEN_B = "B".repeat(43);

function agentConfig(apiUrl: string) {
  const port = freePort();
  return {
    ...defaultConfig(),
    apiUrl: [apiUrl],
    listenHost: "127.0.0.1",
    listenPort: port,
    advertiseHost: "127.0.0.1",
    advertisePort: port,
    protectHost: true,
    diskWaitAttempts: 0,
    lookupTimeout: 1,
    lookupInterval: 0.05,
    // Plain HTTP keeps these tests on fetch without a CA; auto-TLS has its own tests.
    enableAutoTls: false,
  };
}

/** Ironic's lookup answer for NODE, handing out `agentToken`. */
function lookupAnswer(agentToken: string): Response {
  return json(200, {
    node: { uuid: NODE, properties: {}, instance_info: {}, driver_internal_info: {} },
    config: { heartbeat_timeout: 300, agent_token: agentToken },
  });
}

/** Starts `Agent.run()`; disposing of the result aborts the agent and waits for the run to end. */
function runAgent(config: ReturnType<typeof agentConfig>, relookupDelayMs: number) {
  const stop = new AbortController();
  const running = new Agent({
    config,
    runner: systemRunner,
    log: new Logger(),
    signal: stop.signal,
    relookupDelayMs,
  }).run();
  return {
    async [Symbol.asyncDispose]() {
      stop.abort();
      await running;
    },
  };
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("Agent looks the node up again after Ironic rejects its token, and forces heartbeats", async () => {
  let lookups = 0;
  const heartbeats: { agent_token: string }[] = [];
  await using ironic = startFakeIronic({
    handler(req) {
      if (req.path === "/v1/lookup") {
        lookups++;
        return lookupAnswer(lookups === 1 ? TOKEN_A : TOKEN_B);
      }
      if (req.path === `/v1/heartbeat/${NODE}`) {
        const body = req.body as { agent_token: string };
        heartbeats.push(body);
        if (body.agent_token === TOKEN_A) {
          return ironicError(400, "Invalid or missing agent token received.");
        }
        return new Response(null, { status: 202 });
      }
      return ironicError(404, "Not found");
    },
  });
  const config = agentConfig(ironic.url);
  await using _agent = runAgent(config, 0);
  await waitFor(() => heartbeats.some((h) => h.agent_token === TOKEN_B), 15_000, "heartbeat B");
  assert.equal(lookups, 2);
  assert.deepEqual(heartbeats.map((h) => h.agent_token), [TOKEN_A, TOKEN_B]);
  const lookup = ironic.requests.find((r) => r.path === "/v1/lookup")!;
  assert.equal(lookup.headers.get("x-openstack-ironic-api-version"), "1.62");
  assert.match(lookup.query.get("addresses") ?? "", /^([0-9a-f]{2}:){5}[0-9a-f]{2}/);

  // The API now takes the new token only.
  const base = `http://127.0.0.1:${config.listenPort}/v1/commands/?wait=true&agent_token=`;
  const body = JSON.stringify({ name: "standby.power_off", params: {} });
  const old = await fetch(base + TOKEN_A, { method: "POST", body });
  assert.equal(old.status, 401);
  await old.body?.cancel();
  const res = await fetch(base + TOKEN_B, { method: "POST", body });
  assert.equal((await res.json()).command_status, "SUCCEEDED");
  // A finished async command forces a heartbeat within ~5 s, not after 90-180 s.
  await waitFor(() => heartbeats.length >= 3, 9_000, "forced heartbeat");
  const heartbeat = ironic.requests.find((r) => r.path === `/v1/heartbeat/${NODE}`)!;
  assert.equal(heartbeat.headers.get("x-openstack-ironic-api-version"), "1.68");
  assert.deepEqual(Object.keys(heartbeat.body as object).sort(), [
    "agent_token",
    "agent_version",
    "callback_url",
  ]);
  assert.equal(
    (heartbeat.body as { callback_url: string }).callback_url,
    `http://127.0.0.1:${config.listenPort}`,
  );
});

Deno.test("Agent.run() rejects with LookupNodeError when lookup times out", async () => {
  await using ironic = startFakeIronic({ handler: () => ironicError(404, "Not found") });
  const agent = new Agent({
    config: agentConfig(ironic.url),
    runner: systemRunner,
    log: new Logger(),
    signal: new AbortController().signal,
  });
  await assert.rejects(() => agent.run(), LookupNodeError);
  assert.ok(ironic.requests.filter((r) => r.path === "/v1/lookup").length >= 2);
});

Deno.test("Agent looks up again only after Ironic rejected its token for the re-lookup delay", async () => {
  const lookups: number[] = [];
  const heartbeats: number[] = [];
  await using ironic = startFakeIronic({
    handler(req) {
      if (req.path === "/v1/lookup") {
        lookups.push(Date.now());
        // A second lookup sees the masked token: the conductor holds one we never learn.
        return lookupAnswer(lookups.length === 1 ? TOKEN_A : "******");
      }
      if (req.path === `/v1/heartbeat/${NODE}`) {
        heartbeats.push(Date.now());
        return ironicError(400, "Invalid or missing agent token received.");
      }
      return ironicError(404, "Not found");
    },
  });
  await using _agent = runAgent(agentConfig(ironic.url), 4_000);
  // Rejections come every 5-10 s: the first, then one past the delay, which looks up again;
  // the new heartbeater's rejections start a new streak, so no third lookup yet.
  await waitFor(() => heartbeats.length >= 3, 25_000, "three rejected heartbeats");
  assert.equal(lookups.length, 2);
  assert.ok(
    lookups[1]! - heartbeats[0]! >= 4_000,
    `re-lookup ${lookups[1]! - heartbeats[0]!} ms after the first rejection`,
  );
});

Deno.test("Agent looks the node up while the managers initialise, and heartbeats only once they have", async () => {
  const events: string[] = [];
  const gate = Promise.withResolvers<void>();
  // The manager below is imported as a module of its own; this global is how it reaches the test.
  const shared = globalThis as { agentTestGate?: { wait: Promise<void>; done(): void } };
  shared.agentTestGate = { wait: gate.promise, done: () => events.push("initialised") };
  const dir = await Deno.makeTempDir({ prefix: "agent-test-" });
  const manager = `${dir}/gated_manager.js`;
  await Deno.writeTextFile(
    manager,
    `export default () => ({
      name: "gated", className: "GatedManager", version: "1.0",
      evaluateSupport: () => Promise.resolve(1),
      async initialize() {
        await globalThis.agentTestGate.wait;
        globalThis.agentTestGate.done();
      },
      steps: [],
      capabilities: {},
    });`,
  );
  // The lookup opens the gate; so does this timer, so that an agent which waits for its managers
  // before looking up fails the assertion below instead of hanging.
  const timer = setTimeout(() => {
    events.push("gate timer");
    gate.resolve();
  }, 3_000);
  try {
    await using ironic = startFakeIronic({
      handler(req) {
        if (req.path === "/v1/lookup") {
          events.push("lookup");
          gate.resolve();
          return lookupAnswer(TOKEN_A);
        }
        if (req.path === `/v1/heartbeat/${NODE}`) {
          events.push("heartbeat");
          return new Response(null, { status: 202 });
        }
        return ironicError(404, "Not found");
      },
    });
    await using _agent = runAgent({ ...agentConfig(ironic.url), hardwareManagers: [manager] }, 0);
    await waitFor(() => events.includes("heartbeat"), 15_000, "first heartbeat");
  } finally {
    clearTimeout(timer);
    delete shared.agentTestGate;
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(events.slice(0, 3), ["lookup", "initialised", "heartbeat"]);
});
