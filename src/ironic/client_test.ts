import assert from "node:assert/strict";
import { type ErrorClass, rejectsWith, throwsWith } from "./_test_assert.ts";
import { ConfigError, HeartbeatError } from "../api/errors.ts";
import { setSink } from "../log.ts";
import { type FetchLike, IronicClient, normalizeApiUrls } from "./client.ts";
import {
  AgentTokenRejectedError,
  HeartbeatConflictError,
  HeartbeatConnectionError,
  IronicConnectionError,
} from "./errors.ts";
import { type FakeIronic, ironicError, json, refusedUrl, startFakeIronic } from "./_test_ironic.ts";

const TOKEN = "mrhhc0KIgFjsAVSxdl1aXDiQyLUgMNzsJzsKZ7EKHmU";
const HEARTBEAT = {
  callbackUrl: "http://10.0.0.15:9999",
  agentToken: TOKEN,
  agentVersion: "10.2.0",
};

function ok202(): Response {
  return new Response(null, { status: 202 });
}

/** Silences the logger for the duration of a test. */
function quiet(): () => void {
  return setSink(() => {});
}

function versionHeader(ironic: FakeIronic, path: string): string | null | undefined {
  return ironic.requests.find((r) => r.path.startsWith(path))?.headers.get(
    "X-OpenStack-Ironic-API-Version",
  );
}

Deno.test("normalizeApiUrls() drops empty items and trailing slashes", () => {
  assert.deepEqual(normalizeApiUrls([" https://a:6385/ ", "", "https://b/baremetal//"]), [
    "https://a:6385",
    "https://b/baremetal",
  ]);
});

Deno.test("IronicClient uses 1.62 for lookup and 1.68 for heartbeat against a newer server", async () => {
  await using ironic = startFakeIronic({
    version: "1.99",
    handler: (r) => r.path === "/v1/lookup" ? json(200, {}) : ok202(),
  });
  const client = new IronicClient({ apiUrls: [ironic.url], globalRequestId: "req-1234" });
  await client.lookup({ addresses: ["52:54:00:12:34:56"] });
  await client.heartbeat("node-1", HEARTBEAT);
  await client.heartbeat("node-1", HEARTBEAT);
  assert.deepEqual(ironic.requests.map((r) => `${r.method} ${r.path}`), [
    "GET /",
    "GET /v1/lookup",
    "POST /v1/heartbeat/node-1",
    "POST /v1/heartbeat/node-1",
  ]);
  const [root, lookup, heartbeat] = ironic.requests;
  assert.deepEqual(root?.headers.get("X-OpenStack-Ironic-API-Version"), null);
  assert.deepEqual(lookup?.headers.get("X-OpenStack-Ironic-API-Version"), "1.62");
  assert.deepEqual(heartbeat?.headers.get("X-OpenStack-Ironic-API-Version"), "1.68");
  for (const request of ironic.requests) {
    assert.deepEqual(request.headers.get("Content-Type"), "application/json");
    assert.deepEqual(request.headers.get("Accept"), "application/json");
    assert.deepEqual(request.headers.get("X-OpenStack-Request-ID"), "req-1234");
  }
  assert.deepEqual(heartbeat?.body, {
    callback_url: "http://10.0.0.15:9999",
    agent_token: TOKEN,
    agent_version: "10.2.0",
  });
});

Deno.test("IronicClient never sends more than the server maximum", async (t) => {
  const cases: [string, string, Record<string, unknown>][] = [
    ["1.50", "1.50", { callback_url: HEARTBEAT.callbackUrl, agent_version: "10.2.0" }],
    ["1.35", "1.35", { callback_url: HEARTBEAT.callbackUrl }],
    ["1.62", "1.62", {
      callback_url: HEARTBEAT.callbackUrl,
      agent_token: TOKEN,
      agent_version: "10.2.0",
    }],
  ];
  for (const [server, expected, body] of cases) {
    await t.step(`server ${server}`, async () => {
      await using ironic = startFakeIronic({
        version: server,
        handler: (r) => r.path === "/v1/lookup" ? json(200, {}) : ok202(),
      });
      const client = new IronicClient({ apiUrls: [ironic.url] });
      await client.lookup({ addresses: ["52:54:00:12:34:56"] });
      await client.heartbeat("node-1", HEARTBEAT);
      assert.deepEqual(versionHeader(ironic, "/v1/lookup"), expected);
      assert.deepEqual(versionHeader(ironic, "/v1/heartbeat"), expected);
      assert.deepEqual(ironic.requests.find((r) => r.method === "POST")?.body, body);
    });
  }
});

Deno.test("IronicClient assumes 1.31 when discovery fails and retries discovery later", async () => {
  const restore = quiet();
  try {
    await using ironic = startFakeIronic({ version: null, handler: () => json(200, {}) });
    const client = new IronicClient({ apiUrls: [ironic.url] });
    assert.deepEqual(await client.serverVersion(), [1, 31]);
    await client.lookup({ addresses: ["52:54:00:12:34:56"] });
    assert.deepEqual(versionHeader(ironic, "/v1/lookup"), "1.31");
    assert.deepEqual(ironic.requests.filter((r) => r.path === "/").length, 2);
  } finally {
    restore();
  }
});

Deno.test("IronicClient uses a configured ironic_api_version without discovery", async () => {
  await using ironic = startFakeIronic({
    handler: (r) => r.path === "/v1/lookup" ? json(200, {}) : ok202(),
  });
  const client = new IronicClient({ apiUrls: [ironic.url], ironicApiVersion: "1.70" });
  await client.lookup({ addresses: [] });
  await client.heartbeat("n", HEARTBEAT);
  assert.deepEqual(ironic.requests.map((r) => r.path), ["/v1/lookup", "/v1/heartbeat/n"]);
  assert.deepEqual(versionHeader(ironic, "/v1/lookup"), "1.62");
  assert.deepEqual(versionHeader(ironic, "/v1/heartbeat"), "1.68");
  assert.deepEqual(await client.supportsAutoTls(), true);
});

Deno.test("IronicClient.lookup() sends addresses and node_uuid under a path prefix", async () => {
  await using ironic = startFakeIronic({
    prefix: "/baremetal",
    handler: () => json(200, {}),
  });
  const client = new IronicClient({ apiUrls: [`${ironic.url}/`] });
  const response = await client.lookup({
    addresses: ["52:54:00:12:34:56", "52:54:00:ab:cd:ef"],
    nodeUuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
  });
  assert.deepEqual(response.status, 200);
  assert.deepEqual(response.apiUrl, ironic.url);
  const lookup = ironic.requests.find((r) => r.path === "/v1/lookup");
  assert.deepEqual(lookup?.query.get("addresses"), "52:54:00:12:34:56,52:54:00:ab:cd:ef");
  assert.deepEqual(lookup?.query.get("node_uuid"), "1be26c0b-03f2-4d2e-ae87-c02d7f33c123");
});

Deno.test("IronicClient fails over when the first URL refuses and then keeps the one that answered", async () => {
  await using ironic = startFakeIronic({ handler: () => json(200, {}) });
  const dead = refusedUrl();
  const tried: string[] = [];
  const recordingFetch: FetchLike = (input, init) => {
    tried.push(new URL(input).origin);
    return fetch(input, init);
  };
  const restore = quiet();
  try {
    const client = new IronicClient({ apiUrls: [dead, ironic.url], fetch: recordingFetch });
    const response = await client.request("GET", "/v1/lookup");
    assert.deepEqual(response.apiUrl, ironic.url);
    assert.deepEqual(client.apiUrls, [ironic.url, dead]);
    await client.request("GET", "/v1/lookup");
    assert.deepEqual(tried, [dead, ironic.url, ironic.url]);
  } finally {
    restore();
  }
});

Deno.test("IronicClient fails over when the first URL times out", async () => {
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  await using hung = startFakeIronic({
    handler: async () => {
      await released;
      return json(200, {});
    },
  });
  await using ironic = startFakeIronic({ handler: () => json(200, { ok: true }) });
  const restore = quiet();
  try {
    const client = new IronicClient({ apiUrls: [hung.url, ironic.url], httpRequestTimeout: 0.2 });
    const response = await client.request("GET", "/v1/lookup");
    assert.deepEqual(response.apiUrl, ironic.url);
    assert.deepEqual(JSON.parse(response.body), { ok: true });
  } finally {
    restore();
    release();
  }
});

Deno.test("IronicClient does not fail over on an HTTP error status", async () => {
  await using first = startFakeIronic({ handler: () => ironicError(500, "boom") });
  await using second = startFakeIronic({ handler: () => json(200, {}) });
  const client = new IronicClient({ apiUrls: [first.url, second.url] });
  const response = await client.request("GET", "/v1/lookup");
  assert.deepEqual(response.status, 500);
  assert.deepEqual(second.requests.length, 0);
});

Deno.test("IronicClient throws IronicConnectionError naming every URL when all fail", async () => {
  const a = refusedUrl();
  const b = refusedUrl();
  const restore = quiet();
  try {
    const client = new IronicClient({ apiUrls: [a, b] });
    await rejectsWith(
      () => client.request("GET", "/v1/lookup"),
      IronicConnectionError,
      new RegExp(`Cannot GET /v1/lookup: no Ironic API URL answered.*${a}.*${b}`),
    );
  } finally {
    restore();
  }
});

Deno.test("IronicClient.heartbeat() maps answers to errors", async (t) => {
  const cases: [string, () => Response, ErrorClass<Error> | null, RegExp | null][] = [
    ["202 succeeds", ok202, null, null],
    [
      "409 is a conflict",
      () => ironicError(409, "Node n is locked by host c1"),
      HeartbeatConflictError,
      /locked/,
    ],
    [
      "400 about the token is a token rejection",
      () => ironicError(400, "Invalid or missing agent token received."),
      AgentTokenRejectedError,
      /HTTP 400: Invalid or missing agent token received\./,
    ],
    [
      "other 400 is a plain heartbeat error",
      () => ironicError(400, "Detected change in ramdisk provided callback_url"),
      HeartbeatError,
      /HTTP 400: Detected change in ramdisk provided callback_url/,
    ],
    [
      "503 is a heartbeat error",
      () => ironicError(503, "No free conductor workers"),
      HeartbeatError,
      /503/,
    ],
  ];
  for (const [name, answer, errorClass, pattern] of cases) {
    await t.step(name, async () => {
      await using ironic = startFakeIronic({ handler: answer });
      const client = new IronicClient({ apiUrls: [ironic.url] });
      if (!errorClass) {
        await client.heartbeat("n", HEARTBEAT);
        return;
      }
      const err = await rejectsWith(
        () => client.heartbeat("n", HEARTBEAT),
        errorClass,
        pattern ?? undefined,
      );
      if (errorClass === HeartbeatError) {
        assert.ok(!(err instanceof AgentTokenRejectedError));
        assert.ok(!(err instanceof HeartbeatConflictError));
      }
    });
  }
  await t.step("connection failure", async () => {
    const restore = quiet();
    try {
      const client = new IronicClient({ apiUrls: [refusedUrl()], ironicApiVersion: "1.68" });
      await rejectsWith(() => client.heartbeat("n", HEARTBEAT), HeartbeatConnectionError);
    } finally {
      restore();
    }
  });
});

Deno.test("IronicClient.heartbeat() sends agent_verify_ca only when given and supported", async () => {
  await using ironic = startFakeIronic({ version: "1.99", handler: ok202 });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  await client.heartbeat("n", HEARTBEAT);
  await client.heartbeat("n", { ...HEARTBEAT, agentVerifyCa: "PEM" });
  const bodies = ironic.requests.filter((r) => r.method === "POST").map((r) => r.body);
  assert.deepEqual((bodies[0] as Record<string, unknown>).agent_verify_ca, undefined);
  assert.deepEqual((bodies[1] as Record<string, unknown>).agent_verify_ca, "PEM");

  await using old = startFakeIronic({ version: "1.67", handler: ok202 });
  await new IronicClient({ apiUrls: [old.url] }).heartbeat("n", {
    ...HEARTBEAT,
    agentVerifyCa: "PEM",
  });
  const body = old.requests.find((r) => r.method === "POST")?.body as Record<string, unknown>;
  assert.deepEqual("agent_verify_ca" in body, false);
  assert.deepEqual(body.agent_token, TOKEN);
});

Deno.test("IronicClient.heartbeat() sends a null token when none is known", async () => {
  await using ironic = startFakeIronic({ handler: ok202 });
  await new IronicClient({ apiUrls: [ironic.url] }).heartbeat("n", {
    ...HEARTBEAT,
    agentToken: null,
  });
  const body = ironic.requests.find((r) => r.method === "POST")?.body as Record<string, unknown>;
  assert.deepEqual("agent_token" in body, true);
  assert.deepEqual(body.agent_token, null);
});

Deno.test("IronicClient.probe() is true for any HTTP answer and false when refused", async () => {
  await using ironic = startFakeIronic({ handler: () => ironicError(404, "nope") });
  const client = new IronicClient({ apiUrls: [ironic.url] });
  assert.deepEqual(await client.probe(ironic.url), true);
  assert.deepEqual(await client.probe(refusedUrl()), false);
});

Deno.test("IronicClient rejects unusable configuration", () => {
  throwsWith(
    () => new IronicClient({ apiUrls: ["", " "] }),
    ConfigError,
    /api_url is empty/,
  );
  throwsWith(
    () => new IronicClient({ apiUrls: ["https://a"], certfile: "/c.pem" }),
    ConfigError,
    /certfile "\/c.pem" and keyfile "" must be set together/,
  );
  throwsWith(
    () => new IronicClient({ apiUrls: ["https://a"], cafile: "/nonexistent/ca.pem" }),
    ConfigError,
    /Cannot read cafile "\/nonexistent\/ca.pem"/,
  );
});

Deno.test("IronicClient warns that insecure needs a Deno flag", () => {
  const lines: string[] = [];
  const restore = setSink((line) => lines.push(line));
  try {
    new IronicClient({ apiUrls: ["https://10.0.0.2:6385"], insecure: true }).close();
  } finally {
    restore();
  }
  assert.ok(
    lines.some((l) => l.includes("WARN") && l.includes("--unsafely-ignore-certificate-errors")),
  );
});
