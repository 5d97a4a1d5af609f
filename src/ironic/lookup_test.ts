import assert from "node:assert/strict";
import { LookupNodeError } from "../api/errors.ts";
import { setSink } from "../log.ts";
import { rejectsWith } from "./_test_assert.ts";
import { FakeClock, seededRandom } from "./_test_clock.ts";
import {
  type FakeHandler,
  ironicError,
  json,
  type RecordedRequest,
  refusedUrl,
  startFakeIronic,
} from "./_test_ironic.ts";
import { IronicClient } from "./client.ts";
import { ConflictPause, lookupNode, lookupRetryWait } from "./lookup.ts";

const UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";
const TOKEN = "mrhhc0KIgFjsAVSxdl1aXDiQyLUgMNzsJzsKZ7EKHmU";
const KNOWN = "pregeneratedTokenFromKernelCmdline0123456789";
const MACS = ["52:54:00:12:34:56", "52:54:00:ab:cd:ef"];

function node(): Record<string, unknown> {
  return {
    uuid: UUID,
    properties: { cpu_arch: "x86_64", root_device: { serial: "S3EVNX0M123456" } },
    instance_info: {
      image_source: "http://images.example.com/ubuntu.qcow2",
      configdrive: "******",
    },
    driver_internal_info: { agent_secret_token: "******", agent_erase_devices_iterations: 1 },
    links: [{ href: `http://10.0.0.2:6385/v1/nodes/${UUID}`, rel: "self" }],
  };
}

function lookupAnswer(config: Record<string, unknown> = {}): Response {
  return json(200, { node: node(), config: { heartbeat_timeout: 300, ...config } });
}

/** Answers lookups from `answers` in turn (the last one repeats); counts them. */
function scripted(answers: (() => Response)[]): { handler: FakeHandler; lookups: () => number } {
  let count = 0;
  return {
    handler(req: RecordedRequest) {
      if (req.path !== "/v1/lookup") return ironicError(404, "unexpected");
      const answer = answers[Math.min(count, answers.length - 1)]!;
      count++;
      return answer();
    },
    lookups: () => count,
  };
}

/** Collects log lines (and keeps them off stderr) while `fn` runs. */
async function captureLogs<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const restore = setSink((line) => lines.push(line));
  try {
    return { result: await fn(), lines };
  } finally {
    restore();
  }
}

Deno.test("lookupNode() returns node, config, heartbeat timeout and the adopted token", async () => {
  const script = scripted([() => lookupAnswer({ agent_token: TOKEN, agent_token_required: true })]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  const { result, lines } = await captureLogs(() =>
    lookupNode(client, { addresses: MACS, nodeUuid: UUID, clock: new FakeClock() })
  );
  assert.equal(result.node.uuid, UUID);
  assert.deepEqual(result.node.properties.root_device, { serial: "S3EVNX0M123456" });
  assert.equal(result.heartbeatTimeout, 300);
  assert.equal(result.config.agent_token_required, true);
  assert.equal(result.token, TOKEN);
  assert.equal(result.tokenUnavailable, false);
  const request = ironic.requests.find((r) => r.path === "/v1/lookup");
  assert.equal(request?.query.get("addresses"), MACS.join(","));
  assert.equal(request?.query.get("node_uuid"), UUID);
  assert.equal(request?.headers.get("X-OpenStack-Ironic-API-Version"), "1.62");
  assert.ok(lines.some((l) => l.includes("Adopted the agent token")));
  assert.ok(lines.every((l) => !l.includes(TOKEN)), "the token must never be logged");
});

Deno.test("lookupNode() keeps unknown config keys and drops invalid known values", async () => {
  const script = scripted([() =>
    lookupAnswer({
      metrics: { backend: "noop", prepend_host: false, global_prefix: null },
      permitted_image_formats: "raw",
      agent_containers: { runner: "podman" },
      future_option: { x: 1 },
    })]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  const { result, lines } = await captureLogs(() =>
    lookupNode(client, { addresses: MACS, clock: new FakeClock() })
  );
  assert.deepEqual(result.config.metrics, {
    backend: "noop",
    prepend_host: false,
    global_prefix: null,
  });
  assert.equal(result.config.permitted_image_formats, undefined);
  assert.deepEqual(result.config.agent_containers, { runner: "podman" });
  assert.deepEqual(result.config.future_option, { x: 1 });
  assert.ok(
    lines.some((l) =>
      l.includes("Ignoring invalid value") && l.includes("permitted_image_formats")
    ),
  );
});

Deno.test("lookupNode() accepts the old response format with a top-level heartbeat_timeout", async () => {
  const script = scripted([() => json(200, { node: node(), heartbeat_timeout: 120 })]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  const { result } = await captureLogs(() =>
    lookupNode(client, { addresses: MACS, clock: new FakeClock() })
  );
  assert.deepEqual(result.config, { heartbeat_timeout: 120 });
  assert.equal(result.heartbeatTimeout, 120);
  assert.equal(result.token, null);
});

Deno.test("lookupNode() retries invalid answers", async (t) => {
  const cases: [string, () => Response][] = [
    ["404", () => ironicError(404, "Resource could not be found.")],
    ["non-JSON 200", () => new Response("<html>oops</html>", { status: 200 })],
    ["JSON that is not an object", () => json(200, [1, 2])],
    ["missing node", () => json(200, { config: { heartbeat_timeout: 300 } })],
    [
      "missing node.uuid",
      () => json(200, { node: { properties: {} }, config: { heartbeat_timeout: 300 } }),
    ],
    ["neither config nor heartbeat_timeout", () => json(200, { node: node() })],
    ["config without heartbeat_timeout", () => json(200, { node: node(), config: {} })],
    [
      "heartbeat_timeout not a number",
      () => json(200, { node: node(), config: { heartbeat_timeout: "soon" } }),
    ],
  ];
  for (const [name, bad] of cases) {
    await t.step(name, async () => {
      const script = scripted([bad, () => lookupAnswer()]);
      await using ironic = startFakeIronic({ handler: script.handler });
      const client = new IronicClient({ apiUrls: [ironic.url] });
      const clock = new FakeClock();
      const { result, lines } = await captureLogs(() =>
        lookupNode(client, { addresses: MACS, clock, random: () => 0 })
      );
      assert.equal(result.node.uuid, UUID);
      assert.equal(script.lookups(), 2);
      assert.deepEqual(clock.sleeps, [1000]);
      assert.ok(lines.some((l) => l.includes("WARN") && l.includes("retrying")));
    });
  }
});

Deno.test("lookupNode() retries when no API URL answers", async () => {
  const client = new IronicClient({ apiUrls: [refusedUrl()], ironicApiVersion: "1.99" });
  const clock = new FakeClock();
  const { lines } = await captureLogs(() =>
    rejectsWith(
      () => lookupNode(client, { addresses: MACS, clock, timeout: 10, random: () => 0 }),
      LookupNodeError,
    )
  );
  assert.ok(lines.some((l) => l.includes("Lookup failed to reach Ironic")));
});

Deno.test("lookupRetryWait() draws from [interval, max(interval, min(60, 2^(n-1)))]", () => {
  const options = { interval: 1, maxInterval: 60 };
  const highs = [1, 2, 4, 8, 16, 32, 60, 60];
  for (const [index, high] of highs.entries()) {
    const attempt = index + 1;
    assert.equal(lookupRetryWait(attempt, { ...options, random: () => 0 }), 1);
    assert.equal(lookupRetryWait(attempt, { ...options, random: () => 1 }), high);
  }
  // A large lookup_interval is both bounds.
  assert.equal(lookupRetryWait(3, { interval: 10, maxInterval: 60, random: () => 0.7 }), 10);
});

Deno.test("lookupNode() backs off within the tenacity bounds using the injected random", async () => {
  const failures = 9;
  const answers = Array.from({ length: failures }, () => () => ironicError(404, "not found"));
  const script = scripted([...answers, () => lookupAnswer()]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  const clock = new FakeClock();
  const random = seededRandom(42);
  const expectedRandom = seededRandom(42);
  await captureLogs(() => lookupNode(client, { addresses: MACS, clock, random, interval: 2 }));
  assert.equal(script.lookups(), failures + 1);
  assert.equal(clock.sleeps.length, failures);
  for (const [index, ms] of clock.sleeps.entries()) {
    const attempt = index + 1;
    const high = Math.max(2, Math.min(60, 2 ** (attempt - 1)));
    assert.ok(ms >= 2000 && ms <= high * 1000, `wait ${ms} ms after attempt ${attempt}`);
    assert.equal(ms, (2 + expectedRandom() * (high - 2)) * 1000);
  }
});

Deno.test("lookupNode() pauses 5, 10, then 30 s extra on 409 and never resets the count", async () => {
  const conflict = () => ironicError(409, "Node is locked by host conductor-1");
  const ok = () => lookupAnswer();
  const script = scripted([conflict, conflict, conflict, conflict, ok, conflict, ok]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  const clock = new FakeClock();
  await captureLogs(() => lookupNode(client, { addresses: MACS, clock, random: () => 0 }));
  // Each 409: the extra pause, then the normal wait (random 0 -> lookup_interval, 1 s).
  assert.deepEqual(clock.sleeps, [5000, 1000, 10000, 1000, 30000, 1000, 30000, 1000]);

  // A later lookup with the same client (e.g. a refresh) continues the count.
  const later = new FakeClock();
  await captureLogs(() => lookupNode(client, { addresses: MACS, clock: later, random: () => 0 }));
  assert.deepEqual(later.sleeps, [30000, 1000]);
  assert.equal(script.lookups(), 7);
});

Deno.test("lookupNode() uses an explicitly shared ConflictPause", async () => {
  const pause = new ConflictPause();
  assert.equal(pause.next(), 5);
  const script = scripted([() => ironicError(409, "locked"), () => lookupAnswer()]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const clock = new FakeClock();
  await captureLogs(() =>
    lookupNode(new IronicClient({ apiUrls: [ironic.url] }), {
      addresses: MACS,
      clock,
      random: () => 0,
      conflictPause: pause,
    })
  );
  assert.deepEqual(clock.sleeps, [10000, 1000]);
});

Deno.test("lookupNode() throws LookupNodeError once lookup_timeout has passed", async () => {
  const script = scripted([() => ironicError(404, "Resource could not be found.")]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  const clock = new FakeClock({ limitMs: 3600_000 });
  const { result: err } = await captureLogs(() =>
    rejectsWith(
      () => lookupNode(client, { addresses: MACS, clock, random: seededRandom(7), timeout: 600 }),
      LookupNodeError,
      /Could not look up node info with addresses "52:54:00:12:34:56,52:54:00:ab:cd:ef" within lookup_timeout 600 s/,
    )
  );
  assert.ok(err.message.startsWith("Error getting configuration from Ironic: Could not look up"));
  assert.ok(clock.elapsed() >= 600_000, "gave up before the deadline");
  const lastWait = clock.sleeps.at(-1) ?? 0;
  assert.ok(clock.elapsed() - lastWait < 600_000, "kept retrying after the deadline");
  assert.ok(script.lookups() > 10 && script.lookups() < 100, `${script.lookups()} attempts`);
});

Deno.test("lookupNode() stops when its signal is aborted", async () => {
  const script = scripted([() => ironicError(404, "not found")]);
  await using ironic = startFakeIronic({ handler: script.handler });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  const clock = new FakeClock();
  const controller = new AbortController();
  clock.at(30_000, () => controller.abort(new Error("agent stopping")));
  await captureLogs(() =>
    rejectsWith(
      () => lookupNode(client, { addresses: MACS, clock, signal: controller.signal }),
      Error,
      /agent stopping/,
    )
  );
  assert.ok(clock.elapsed() <= 30_000);
});

Deno.test("lookupNode() applies the agent token rules", async (t) => {
  const cases: {
    name: string;
    received: unknown;
    known: string | null;
    token: string | null;
    unavailable: boolean;
    log?: string;
  }[] = [
    {
      name: "a new token is adopted",
      received: TOKEN,
      known: null,
      token: TOKEN,
      unavailable: false,
    },
    {
      name: "a new token overrides a known one",
      received: TOKEN,
      known: KNOWN,
      token: TOKEN,
      unavailable: false,
    },
    {
      name: "masked keeps the known token",
      received: "******",
      known: KNOWN,
      token: KNOWN,
      unavailable: false,
    },
    {
      name: "masked without a known token means stop serving",
      received: "******",
      known: null,
      token: null,
      unavailable: true,
      log: "cannot authenticate",
    },
    {
      name: "a short token is ignored",
      received: "tooshort",
      known: KNOWN,
      token: KNOWN,
      unavailable: false,
      log: "Ignoring an invalid agent token",
    },
    {
      name: "a non-string token is ignored",
      received: 12345,
      known: null,
      token: null,
      unavailable: false,
      log: "key=agent_token",
    },
    {
      name: "no token keeps the known one",
      received: undefined,
      known: KNOWN,
      token: KNOWN,
      unavailable: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const config = c.received === undefined ? {} : { agent_token: c.received };
      const script = scripted([() => lookupAnswer(config)]);
      await using ironic = startFakeIronic({ handler: script.handler });
      const client = new IronicClient({ apiUrls: [ironic.url] });
      const { result, lines } = await captureLogs(() =>
        lookupNode(client, { addresses: MACS, knownToken: c.known, clock: new FakeClock() })
      );
      assert.equal(result.token, c.token);
      assert.equal(result.tokenUnavailable, c.unavailable);
      if (c.log) assert.ok(lines.some((l) => l.includes(c.log!)), `log "${c.log}"`);
      assert.ok(lines.every((l) => !l.includes(TOKEN) && !l.includes(KNOWN)), "token logged");
    });
  }
});
