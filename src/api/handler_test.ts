import assert from "node:assert/strict";
import { z } from "zod";
import { createHandler } from "./handler.ts";
import { TokenGuard } from "./token_guard.ts";
import { CommandExecutor } from "../commands/executor.ts";
import { command, CommandRegistry } from "../commands/registry.ts";
import { ImageChecksumError } from "./errors.ts";
import { setSink } from "../log.ts";
import { crashCommand, echoCommand, TOKEN } from "./_test_commands.ts";

/** A handler with a few test commands; `release()` lets the blocking async command finish. */
function setup(options: { token?: string | null } = {}) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const registry = new CommandRegistry([
    echoCommand,
    command({
      name: "test.fail",
      async: false,
      params: z.looseObject({}),
      run: () => Promise.reject(new ImageChecksumError("expected abc, got def")),
    }),
    crashCommand,
    command({
      name: "test.slow",
      async: true,
      params: z.looseObject({}),
      async run(_p, ctx) {
        ctx.progress({ written: 1 });
        await gate;
        return "done";
      },
    }),
  ]);
  const executor = new CommandExecutor({ registry });
  const tokens = new TokenGuard(options.token === undefined ? TOKEN : options.token);
  const handler = createHandler({
    executor,
    tokens,
    status: () => ({ started_at: 1718035200.5, version: "1.0.0" }),
    maxBodyBytes: 1024,
  });
  return { handler, executor, tokens, release };
}

async function call(
  handler: (r: Request) => Promise<Response>,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const init: RequestInit = { method };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  const res = await handler(new Request(`http://127.0.0.1:9999${path}`, init));
  assert.equal(res.headers.get("content-type"), "application/json");
  return { status: res.status, json: await res.json(), headers: res.headers };
}

const post = (name: string, params: unknown = {}) => ({ name, params });
const q = `agent_token=${TOKEN}`;

// Keep test output quiet: the handler logs one line per request.
setSink(() => {});

Deno.test("createHandler() serves the root, v1 and status documents without a token", async () => {
  const { handler } = setup();
  const root = await call(handler, "GET", "/");
  assert.equal(root.status, 200);
  assert.equal(root.json.name, "OpenStack Ironic Python Agent API");
  assert.deepEqual((root.json.default_version as { id: string }).id, "v1");
  for (const path of ["/v1", "/v1/"]) {
    const v1 = await call(handler, "GET", path);
    assert.equal(v1.status, 200);
    assert.equal(
      (v1.json.commands as { href: string }[])[0]!.href,
      "http://127.0.0.1:9999/v1/commands",
    );
  }
  for (const path of ["/v1/status", "/status"]) {
    const status = await call(handler, "GET", path);
    assert.deepEqual(status.json, { started_at: 1718035200.5, version: "1.0.0" });
  }
});

Deno.test("createHandler() answers 404 with the error body for an unknown path", async () => {
  const { handler } = setup();
  const res = await call(handler, "GET", "/v2/nothing");
  assert.equal(res.status, 404);
  assert.equal(res.json.faultcode, "Client");
  assert.match(res.json.faultstring as string, /^404 Not Found: The requested URL/);
});

Deno.test("createHandler() answers 405 for a known path with the wrong method", async () => {
  const { handler } = setup();
  for (const [method, path] of [["DELETE", "/v1/commands/"], ["POST", "/v1/status"]] as const) {
    const res = await call(handler, method, path);
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(typeof res.json.faultstring, "string");
    assert.ok(res.headers.get("allow"));
  }
});

Deno.test("createHandler() requires the token on every POST", async (t) => {
  const { handler } = setup();
  const cases: [string, string][] = [
    ["missing", ""],
    ["empty", "?agent_token="],
    ["wrong", "?agent_token=nope"],
    ["prefix", `?agent_token=${TOKEN.slice(0, 40)}`],
  ];
  for (const [label, query] of cases) {
    await t.step(label, async () => {
      const res = await call(
        handler,
        "POST",
        `/v1/commands/${query}`,
        post("test.echo", {
          text: "x",
        }),
      );
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, {
        faultcode: "Client",
        faultstring: "401 Unauthorized: Token invalid.",
      });
    });
  }
  const ok = await call(handler, "POST", `/v1/commands/?${q}`, post("test.echo", { text: "x" }));
  assert.equal(ok.status, 200);
});

Deno.test("createHandler() answers 401 to a POST when the agent has no token yet", async () => {
  const { handler } = setup({ token: null });
  const res = await call(
    handler,
    "POST",
    "/v1/commands/?agent_token=x",
    post("test.echo", {
      text: "x",
    }),
  );
  assert.equal(res.status, 401);
});

Deno.test("createHandler() lets GETs through without a token until a GET carries one", async () => {
  const { handler } = setup();
  assert.equal((await call(handler, "GET", "/v1/commands/")).status, 200);
  assert.equal((await call(handler, "GET", "/v1/commands")).status, 200);
  assert.equal((await call(handler, "GET", `/v1/commands/?${q}`)).status, 200);
  // From now on every GET must carry the valid token.
  assert.equal((await call(handler, "GET", "/v1/commands/")).status, 401);
  assert.equal((await call(handler, "GET", "/commands/?agent_token=bad")).status, 401);
  assert.equal((await call(handler, "GET", `/commands/?${q}`)).status, 200);
});

Deno.test("createHandler() runs a sync command and records its result", async () => {
  const { handler } = setup();
  for (const path of ["/v1/commands/", "/v1/commands", "/commands/", "/commands"]) {
    const res = await call(
      handler,
      "POST",
      `${path}?wait=false&${q}`,
      post("test.echo", {
        text: "hi",
      }),
    );
    assert.equal(res.status, 200, path);
    assert.equal(res.json.command_name, "echo");
    assert.equal(res.json.command_status, "SUCCEEDED");
    assert.deepEqual(res.json.command_result, { result: "hi" });
    assert.equal(res.json.command_error, null);
    assert.match(res.json.id as string, /^[0-9a-f-]{36}$/);
  }
  const list = await call(handler, "GET", "/v1/commands/");
  assert.equal((list.json.commands as unknown[]).length, 4);
});

Deno.test("createHandler() rejects malformed bodies with 400 and records nothing", async (t) => {
  const { handler, executor } = setup();
  const cases: [string, unknown, number, RegExp][] = [
    ["not JSON", "{nope", 400, /^400 Bad Request: Missing or invalid name or params/],
    ["array", "[]", 400, /Missing or invalid name or params/],
    ["no params", { name: "test.echo" }, 400, /Missing or invalid name or params/],
    ["params not object", { name: "test.echo", params: [] }, 400, /name or params/],
    ["no dot", post("echo"), 400, /^Invalid command: Command name must be of the form/],
    ["unknown extension", post("nope.echo"), 404, /^Not found: Extension with id nope not found/],
    ["unknown command", post("test.frobnicate"), 400, /^Invalid command: Unknown command: frob/],
    ["missing parameter", post("test.echo", {}), 400, /params\.text/],
    ["wrong type", post("test.echo", { text: 5 }), 400, /params\.text/],
  ];
  for (const [label, body, status, pattern] of cases) {
    await t.step(label, async () => {
      const res = await call(handler, "POST", `/v1/commands/?${q}`, body);
      assert.equal(res.status, status);
      assert.equal(res.json.faultcode, "Client");
      assert.match(res.json.faultstring as string, pattern);
    });
  }
  assert.equal(executor.list().length, 0);
  const ok = await call(handler, "POST", `/v1/commands/?${q}`, post("test.echo", { text: "x" }));
  assert.equal(ok.json.command_status, "SUCCEEDED");
});

Deno.test("createHandler() answers 413 for a body over the limit", async () => {
  const { handler } = setup();
  const res = await call(
    handler,
    "POST",
    `/v1/commands/?${q}`,
    post("test.echo", {
      text: "x".repeat(2000),
    }),
  );
  assert.equal(res.status, 413);
  assert.equal(typeof res.json.faultstring, "string");
});

Deno.test("createHandler() records a failing sync command as FAILED with 200", async () => {
  const { handler } = setup();
  const res = await call(handler, "POST", `/v1/commands/?${q}`, post("test.fail"));
  assert.equal(res.status, 200);
  assert.equal(res.json.command_status, "FAILED");
  assert.deepEqual(res.json.command_error, {
    type: "ImageChecksumError",
    code: 500,
    message: "Error verifying image checksum",
    details: "expected abc, got def",
  });
  const crash = await call(handler, "POST", `/v1/commands/?${q}`, post("test.crash"));
  assert.equal(crash.json.command_status, "FAILED");
  assert.equal((crash.json.command_error as { type: string }).type, "CommandExecutionError");
  assert.match((crash.json.command_error as { details: string }).details, /RangeError: boom/);
  // The list stays serialisable after failures (IPA's quirk answers 500 here).
  assert.equal((await call(handler, "GET", "/v1/commands/")).status, 200);
});

Deno.test("createHandler() runs async commands in the background and answers 409 while busy", async () => {
  const { handler, release } = setup();
  const started = await call(handler, "POST", `/v1/commands/?wait=false&${q}`, post("test.slow"));
  assert.equal(started.json.command_status, "RUNNING");
  assert.equal(started.json.command_result, null);
  const busy = await call(handler, "POST", `/v1/commands/?${q}`, post("test.echo", { text: "x" }));
  assert.equal(busy.status, 409);
  assert.match(busy.json.faultstring as string, /^Agent is busy: executing command slow/);
  const one = await call(handler, "GET", `/v1/commands/${started.json.id}`);
  assert.deepEqual(one.json.command_progress, { written: 1 });

  const waiting = call(handler, "GET", `/v1/commands/${started.json.id}?wait=TRUE`);
  release();
  const done = await waiting;
  assert.equal(done.json.command_status, "SUCCEEDED");
  assert.deepEqual(done.json.command_result, { result: "slow: done" });
  const next = await call(handler, "POST", `/v1/commands/?${q}`, post("test.echo", { text: "y" }));
  assert.equal(next.json.command_status, "SUCCEEDED");
});

Deno.test("createHandler() waits for an async command with POST wait=true", async () => {
  const { handler, release } = setup();
  const pending = call(handler, "POST", `/v1/commands/?wait=true&${q}`, post("test.slow"));
  setTimeout(release, 10);
  const res = await pending;
  assert.equal(res.json.command_status, "SUCCEEDED");
});

Deno.test("createHandler() answers 404 for an unknown command id", async () => {
  const { handler } = setup();
  const res = await call(handler, "GET", "/v1/commands/0000");
  assert.equal(res.status, 404);
  assert.equal(res.json.faultstring, "Not found: Command Result with id 0000 not found.");
});
