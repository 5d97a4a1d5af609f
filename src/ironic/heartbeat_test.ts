import assert from "node:assert/strict";
import { setSink } from "../log.ts";
import { throwsWith } from "./_test_assert.ts";
import { FakeClock, seededRandom } from "./_test_clock.ts";
import { type FakeIronic, ironicError, startFakeIronic } from "./_test_ironic.ts";
import { systemClock } from "./clock.ts";
import { IronicClient } from "./client.ts";
import { Heartbeater, type HeartbeaterOptions, type TokenRejectedEvent } from "./heartbeat.ts";

const UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";
const TOKEN = "mrhhc0KIgFjsAVSxdl1aXDiQyLUgMNzsJzsKZ7EKHmU";
const CALLBACK = "http://10.0.0.15:9999";

/**
 * A heartbeater for node UUID with callback CALLBACK, heartbeat_timeout 300 s and agent token
 * TOKEN, unless `options` say otherwise.
 */
function heartbeaterFor(
  options: Partial<HeartbeaterOptions> & Pick<HeartbeaterOptions, "client">,
): Heartbeater {
  return new Heartbeater({
    nodeUuid: UUID,
    callbackUrl: CALLBACK,
    heartbeatTimeout: 300,
    agentVersion: "10.2.0",
    token: () => TOKEN,
    ...options,
  });
}

interface Run {
  /** Virtual ms (since the clock start) of every heartbeat Ironic received. */
  times: number[];
  lines: string[];
  ironic: FakeIronic;
}

/**
 * Runs a heartbeater on a fake clock against a fake Ironic answering `statuses` in turn (the
 * last repeats) until `untilMs` of virtual time, then stops it.
 */
async function runHeartbeats(
  statuses: (() => Response)[],
  untilMs: number,
  options: Partial<HeartbeaterOptions> & {
    clock?: FakeClock;
    setup?: (heartbeater: Heartbeater, clock: FakeClock) => void;
  } = {},
): Promise<Run> {
  const clock = options.clock ?? new FakeClock();
  const times: number[] = [];
  const lines: string[] = [];
  const restore = setSink((line) => lines.push(line));
  const ironic = startFakeIronic({
    handler() {
      const answer = statuses[Math.min(times.length, statuses.length - 1)]!;
      times.push(clock.elapsed());
      return answer();
    },
  });
  try {
    const client = new IronicClient({ apiUrls: [ironic.url] });
    const controller = new AbortController();
    clock.at(untilMs, () => controller.abort());
    const heartbeater = heartbeaterFor({ client, clock, signal: controller.signal, ...options });
    options.setup?.(heartbeater, clock);
    await heartbeater.start();
  } finally {
    restore();
    await ironic.close();
  }
  return { times, lines, ironic };
}

function accepted(): Response {
  return new Response(null, { status: 202 });
}

function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

Deno.test("Heartbeater sends the first heartbeat at once, then every heartbeat_timeout × U(0.3, 0.6)", async () => {
  const { times, ironic } = await runHeartbeats([accepted], 2000_000, {
    random: seededRandom(1),
  });
  assert.equal(times[0], 0);
  assert.ok(times.length >= 11 && times.length <= 23, `${times.length} heartbeats in 2000 s`);
  const expected = seededRandom(1);
  for (const gap of gaps(times)) {
    assert.ok(gap >= 90_000 && gap <= 180_100, `gap ${gap} ms`);
    const interval = 300_000 * (0.3 + 0.3 * expected());
    assert.ok(gap >= interval && gap <= interval + 100, `gap ${gap} ms, interval ${interval} ms`);
  }
  const post = ironic.requests.find((r) => r.method === "POST");
  assert.equal(post?.path, `/v1/heartbeat/${UUID}`);
  assert.equal(post?.headers.get("X-OpenStack-Ironic-API-Version"), "1.68");
  assert.deepEqual(post?.body, {
    callback_url: CALLBACK,
    agent_token: TOKEN,
    agent_version: "10.2.0",
  });
});

Deno.test("Heartbeater retries a failed heartbeat after 5 × U(1, 2) seconds", async () => {
  const { times, lines } = await runHeartbeats(
    [() => ironicError(500, "Internal Server Error")],
    100_000,
    { random: seededRandom(2) },
  );
  assert.ok(times.length >= 10 && times.length <= 21, `${times.length} attempts in 100 s`);
  for (const gap of gaps(times)) assert.ok(gap >= 5000 && gap <= 10_100, `gap ${gap} ms`);
  assert.ok(
    lines.some((l) => l.includes("ERROR Heartbeat failed") && l.includes("Internal Server Error")),
  );
});

Deno.test("Heartbeater follows the interval algorithm through failures and conflicts", async () => {
  const { times, lines } = await runHeartbeats(
    [accepted, () => ironicError(500, "boom"), () => ironicError(409, "Node is locked"), accepted],
    200_000,
    { random: () => 0.5 },
  );
  // 0.5 → success interval 300 × 0.45 = 135 s, failure interval 5 × 1.5 = 7.5 s.
  const expected = [0, 135_000, 142_500, 150_000];
  assert.equal(times.length, 4);
  for (const [i, t] of times.entries()) {
    assert.ok(t >= expected[i]! && t <= expected[i]! + 100, `heartbeat ${i} at ${t} ms`);
  }
  assert.ok(
    lines.some((l) => l.includes("WARN Heartbeat conflict") && l.includes("Node is locked")),
  );
});

Deno.test("Heartbeater.forceHeartbeat() sends a heartbeat within ~5 s", async (t) => {
  await t.step("long after the last heartbeat", async () => {
    const { times } = await runHeartbeats([accepted], 200_000, {
      random: () => 0.5,
      setup: (heartbeater, clock) => clock.at(20_000, () => heartbeater.forceHeartbeat()),
    });
    assert.equal(times.length, 3);
    assert.equal(times[0], 0);
    assert.ok(times[1]! >= 20_000 && times[1]! <= 25_200, `forced heartbeat at ${times[1]} ms`);
    // The forced flag is cleared by the success: the next one follows the normal interval.
    const gap = times[2]! - times[1]!;
    assert.ok(gap >= 135_000 && gap <= 135_100, `gap ${gap} ms`);
  });
  await t.step("right after a heartbeat, once 5 s have passed", async () => {
    const { times } = await runHeartbeats([accepted], 60_000, {
      random: () => 0.5,
      setup: (heartbeater, clock) => clock.at(1_000, () => heartbeater.forceHeartbeat()),
    });
    assert.equal(times.length, 2);
    assert.ok(times[1]! > 5_000 && times[1]! <= 5_200, `forced heartbeat at ${times[1]} ms`);
  });
});

Deno.test("Heartbeater keeps a force requested while a heartbeat is in flight", async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  const controller = new AbortController();
  clock.at(200_000, () => controller.abort());
  let heartbeater: Heartbeater | null = null;
  heartbeater = heartbeaterFor({
    client: {
      heartbeat() {
        times.push(clock.elapsed());
        if (times.length === 1) heartbeater?.forceHeartbeat();
        return Promise.resolve();
      },
    },
    clock,
    random: () => 0.5,
    signal: controller.signal,
  });
  const restore = setSink(() => {});
  try {
    await heartbeater.start();
  } finally {
    restore();
  }
  assert.equal(times.length, 3);
  assert.ok(times[1]! > 5_000 && times[1]! <= 5_200, `forced heartbeat at ${times[1]} ms`);
  assert.ok(times[2]! - times[1]! >= 135_000, "the force was cleared by the second heartbeat");
});

Deno.test("Heartbeater calls onTokenRejected when Ironic rejects the token and keeps going", async () => {
  const events: TokenRejectedEvent[] = [];
  const { times, lines } = await runHeartbeats(
    [() => ironicError(400, "Invalid or missing agent token received.")],
    17_000,
    { random: () => 0, onTokenRejected: (event) => events.push(event) },
  );
  assert.equal(times.length, 4); // 0, 5, 10, 15 s
  assert.equal(events.length, times.length);
  assert.deepEqual(events[0], {
    nodeUuid: UUID,
    message: "Invalid or missing agent token received.",
    rejectedForMs: 0,
  });
  assert.deepEqual(events.map((e) => e.rejectedForMs), times.map((t) => t - times[0]!));
  assert.ok(lines.some((l) => l.includes("Heartbeat rejected")));
});

Deno.test("Heartbeater measures a streak of token rejections from its first one, reset by a success", async () => {
  const rejected = () => ironicError(400, "Invalid or missing agent token received.");
  const events: TokenRejectedEvent[] = [];
  const { times } = await runHeartbeats(
    [rejected, rejected, accepted, rejected, rejected],
    // 0 and 5 s rejected, 10 s accepted (next in 90 s), 100 and 105 s rejected.
    106_000,
    { random: () => 0, onTokenRejected: (event) => events.push(event) },
  );
  assert.deepEqual(times, [0, 5_000, 10_000, 100_000, 105_000].map((t) => times[0]! + t));
  assert.deepEqual(events.map((e) => e.rejectedForMs), [0, 5_000, 0, 5_000]);
});

Deno.test("Heartbeater does not call onTokenRejected for other errors", async () => {
  const events: TokenRejectedEvent[] = [];
  const { times } = await runHeartbeats(
    [
      () => ironicError(409, "Node is locked"),
      () => ironicError(400, "Detected change in ramdisk provided callback_url"),
      () => ironicError(503, "No free conductor workers"),
    ],
    20_000,
    { random: () => 0, onTokenRejected: (event) => events.push(event) },
  );
  assert.ok(times.length >= 3);
  assert.equal(events.length, 0);
});

Deno.test("Heartbeater survives a throwing onTokenRejected handler", async () => {
  const { times, lines } = await runHeartbeats(
    [() => ironicError(400, "Invalid or missing agent token received.")],
    12_000,
    {
      random: () => 0,
      onTokenRejected: () => {
        throw new Error("handler bug");
      },
    },
  );
  assert.equal(times.length, 3);
  assert.ok(lines.some((l) => l.includes("Token-rejection handler failed")));
});

Deno.test("Heartbeater reads the current token before every heartbeat", async () => {
  let token: string | null = null;
  const { ironic } = await runHeartbeats([accepted], 200_000, {
    random: () => 0.5,
    token: () => token,
    setup: (_, clock) => clock.at(100_000, () => (token = TOKEN)),
  });
  const tokens = ironic.requests.filter((r) => r.method === "POST").map((r) =>
    (r.body as Record<string, unknown>).agent_token
  );
  assert.deepEqual(tokens, [null, TOKEN]);
});

Deno.test("Heartbeater logs connection failures and retries", async () => {
  const clock = new FakeClock();
  const lines: string[] = [];
  const restore = setSink((line) => lines.push(line));
  try {
    const dead = startFakeIronic();
    const url = dead.url;
    await dead.close();
    const attempts: number[] = [];
    const client = new IronicClient({ apiUrls: [url], ironicApiVersion: "1.68" });
    const controller = new AbortController();
    clock.at(30_000, () => controller.abort());
    await heartbeaterFor({
      client: {
        heartbeat(uuid, request, signal) {
          attempts.push(clock.elapsed());
          return client.heartbeat(uuid, request, signal);
        },
      },
      clock,
      random: () => 1,
      signal: controller.signal,
    }).start();
    assert.deepEqual(attempts, [0, 10_000, 20_000]);
    assert.ok(lines.some((l) => l.includes("cannot connect to Ironic")));
  } finally {
    restore();
  }
});

Deno.test("Heartbeater.stop() ends the loop promptly on the real clock", async () => {
  const restore = setSink(() => {});
  await using ironic = startFakeIronic({ handler: accepted });
  try {
    const heartbeater = heartbeaterFor({
      client: new IronicClient({ apiUrls: [ironic.url] }),
      clock: systemClock,
    });
    const loop = heartbeater.start();
    assert.equal(heartbeater.start(), loop, "start() is idempotent");
    for (let i = 0; i < 200 && ironic.requests.every((r) => r.method !== "POST"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(ironic.requests.filter((r) => r.method === "POST").length, 1);
    const before = performance.now();
    await heartbeater.stop();
    assert.ok(performance.now() - before < 1000, "stop() waited for a full sleep");
    await loop;
  } finally {
    restore();
  }
});

Deno.test("Heartbeater rejects a non-positive heartbeat_timeout", () => {
  throwsWith(
    () => heartbeaterFor({ client: { heartbeat: () => Promise.resolve() }, heartbeatTimeout: 0 }),
    RangeError,
    /heartbeat_timeout 0 is not positive/,
  );
});
