/**
 * Fuzz test of the agent API (issue #7): ≥ 10,000 generated requests — random methods, paths,
 * query strings, headers, JSON and non-JSON bodies, huge and deeply nested bodies, right and
 * wrong tokens — against the real handler behind a real `Deno.serve` on 127.0.0.1.
 *
 * Pass: no unhandled rejection, no 500, every status one of the documented ones, every error
 * answer carries the JSON error body, and a valid command still runs afterwards. The run is
 * bounded (request count and a deadline) and prints the seed, the count and the status
 * histogram. Replay a run with `FUZZ_SEED=<seed>`; size it with `FUZZ_REQUESTS`.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { CommandExecutor } from "../commands/executor.ts";
import { command, CommandRegistry } from "../commands/registry.ts";
import { setSink } from "../log.ts";
import { createHandler } from "./handler.ts";
import { TokenGuard } from "./token_guard.ts";
import { crashCommand, echoCommand, TOKEN } from "./_test_commands.ts";

const REQUESTS = Number(Deno.env.get("FUZZ_REQUESTS") ?? 10_000);
const DEADLINE_MS = 120_000;
const CONCURRENCY = 8;
const MAX_BODY = 64 * 1024;
/** Spec 02: what the agent API may answer. */
const DOCUMENTED = new Set([200, 400, 401, 404, 405, 409, 413]);

/** mulberry32: small, seedable, good enough to pick cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function generator(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const chars = "abcXYZ019-_.~%/?&=#:;,+ \"'\\{}[]<>\u00e9\u4e2d\u0000";
  const text = (max: number) => Array.from({ length: int(max) }, () => pick([...chars])).join("");
  const wrongToken = () =>
    pick(["", "x", TOKEN.slice(1), TOKEN + "x", TOKEN.toLowerCase(), "******", text(60)]);

  function jsonValue(depth: number): unknown {
    switch (depth > 4 ? int(4) : int(7)) {
      case 0:
        return null;
      case 1:
        return random() < 0.5;
      case 2:
        return pick([0, -1, 1e308, 3.5, Number.MAX_SAFE_INTEGER]);
      case 3:
        return text(20);
      case 4:
        return Array.from({ length: int(4) }, () => jsonValue(depth + 1));
      default:
        return Object.fromEntries(
          Array.from({ length: int(4) }, () => [text(8), jsonValue(depth + 1)]),
        );
    }
  }

  function nested(depth: number): string {
    const open = random() < 0.5 ? "[" : '{"a":';
    const close = open === "[" ? "]" : "}";
    return open.repeat(depth) + "1" + close.repeat(depth);
  }

  function body(): BodyInit | undefined {
    const names = ["test.echo", "test.slow", "test.crash", "test.nope", "nope", "x.y.z", ""];
    switch (int(10)) {
      case 0:
        return undefined;
      case 1:
        return JSON.stringify({ name: pick(names), params: { text: text(30) } });
      case 2:
        return JSON.stringify({ name: pick(names), params: jsonValue(0) });
      case 3:
        return JSON.stringify(jsonValue(0));
      case 4:
        return text(200); // not JSON
      case 5:
        return crypto.getRandomValues(new Uint8Array(int(2048))); // binary
      case 6: // huge: beyond the cap most of the time
        return JSON.stringify({
          name: "test.echo",
          params: { text: "x".repeat(int(4 * MAX_BODY)) },
        });
      case 7: // deeply nested, as the body and inside params
        return random() < 0.5
          ? nested(1000 + int(20_000))
          : `{"name":"test.echo","params":{"text":"t","deep":${nested(1000 + int(20_000))}}}`;
      case 8:
        return JSON.stringify({ name: pick(names), params: { text: text(10) }, extra: text(10) })
          .slice(0, 1 + int(40)); // truncated JSON
      default:
        return JSON.stringify({ name: "test.echo", params: { text: text(30) } });
    }
  }

  function path(): string {
    const id = pick([crypto.randomUUID(), text(12), "%ZZ", "%", "..", "%2e%2e", "a%2Fb"]);
    return pick([
      "/",
      "/v1",
      "/v1/",
      "/v1/status",
      "/status/",
      "/v1/commands",
      "/v1/commands/",
      "/commands",
      `/v1/commands/${id}`,
      `/v1/commands/${id}/`,
      `/v1/commands/${id}/extra`,
      `/${text(10)}`,
      "/v1/../v1/commands/",
      "/v1//commands",
      `/v1/${"a/".repeat(int(500))}`,
    ]).replaceAll(" ", "%20").replaceAll("#", "%23").replaceAll("?", "%3F");
  }

  function query(): string {
    const parts: string[] = [];
    const token = random();
    if (token < 0.4) parts.push(`agent_token=${TOKEN}`);
    else if (token < 0.7) parts.push(`agent_token=${encodeURIComponent(wrongToken())}`);
    if (random() < 0.5) parts.push(`wait=${pick(["true", "false", "TRUE", "", text(5)])}`);
    for (let i = int(3); i > 0; i--) {
      parts.push(`${encodeURIComponent(text(6))}=${encodeURIComponent(text(10))}`);
    }
    if (random() < 0.05) parts.push(`agent_token=${TOKEN}&agent_token=${wrongToken()}`);
    return parts.length ? `?${parts.join("&")}` : "";
  }

  function headers(): Headers {
    const h = new Headers();
    const token = random();
    if (token < 0.2) h.set("X-Agent-Token", TOKEN);
    else if (token < 0.35) h.set("X-Agent-Token", encodeURIComponent(wrongToken()));
    if (random() < 0.5) {
      h.set(
        "content-type",
        pick([
          "application/json",
          "text/plain",
          "application/x-www-form-urlencoded",
          text(10).replace(/[^\x20-\x7e]/g, ""),
        ]),
      );
    }
    if (random() < 0.3) h.set(`x-${int(1000)}`, text(30).replace(/[^\x20-\x7e]/g, ""));
    if (random() < 0.1) {
      h.set(
        "x-forwarded-for",
        pick(["1.2.3.4", "", "::1, 10.0.0.1", text(20).replace(/[^\x20-\x7e]/g, "")]),
      );
    }
    return h;
  }

  const methods = [
    "GET",
    "GET",
    "POST",
    "POST",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "HEAD",
    "OPTIONS",
    "FOO",
  ];
  return function request(base: string): { url: string; init: RequestInit } {
    const method = pick(methods);
    const init: RequestInit = { method, headers: headers() };
    if (method !== "GET" && method !== "HEAD") init.body = body();
    return { url: base + path() + query(), init };
  };
}

Deno.test({
  name: "agent API survives 10,000 fuzzed requests on a real Deno.serve",
  async fn() {
    const seed = Number(Deno.env.get("FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    const next = generator(prng(seed));
    const internal: string[] = [];
    const restoreSink = setSink((line) => {
      if (/unexpected error|unhandled error/.test(line)) internal.push(line);
    });
    let unhandled = 0;
    const onUnhandled = (e: PromiseRejectionEvent) => {
      unhandled++;
      e.preventDefault();
    };
    globalThis.addEventListener("unhandledrejection", onUnhandled);

    const registry = new CommandRegistry([
      echoCommand,
      // Ends by itself: nothing releases it, unlike the handler tests' gated test.slow.
      command({
        name: "test.slow",
        async: true,
        params: z.looseObject({}),
        run: () => new Promise((r) => setTimeout(() => r("done"), 2)),
      }),
      crashCommand,
    ]);
    const handler = createHandler({
      executor: new CommandExecutor({ registry }),
      tokens: new TokenGuard(TOKEN),
      status: () => ({ started_at: 1, version: "1.0.0" }),
      maxBodyBytes: MAX_BODY,
    });
    const stop = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen() {} },
      (req, info) => handler(req, { remoteAddr: info.remoteAddr }),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    const histogram = new Map<number, number>();
    const failures: string[] = [];
    const deadline = Date.now() + DEADLINE_MS;
    let sent = 0;
    const started = performance.now();

    async function one(): Promise<void> {
      const { url, init } = next(base);
      const response = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      histogram.set(response.status, (histogram.get(response.status) ?? 0) + 1);
      const where = `${init.method} ${url.slice(base.length, base.length + 120)}`;
      if (!DOCUMENTED.has(response.status)) failures.push(`${response.status} for ${where}`);
      if (response.status !== 200 && init.method !== "HEAD") {
        let fault: { faultcode?: unknown; faultstring?: unknown } = {};
        try {
          fault = JSON.parse(text);
        } catch { /* checked below */ }
        if (typeof fault.faultcode !== "string" || typeof fault.faultstring !== "string") {
          failures.push(
            `${response.status} without the error body for ${where}: ${text.slice(0, 80)}`,
          );
        }
      }
    }

    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (sent < REQUESTS && Date.now() < deadline && failures.length < 20) {
          sent++;
          await one();
        }
      }));
      const seconds = (performance.now() - started) / 1000;
      const table = [...histogram.entries()].sort(([a], [b]) => a - b)
        .map(([status, n]) => `${status}: ${n}`).join(", ");
      // deno-lint-ignore no-console
      console.log(
        `fuzz: seed ${seed}, ${sent} requests in ${seconds.toFixed(1)} s; statuses {${table}}`,
      );

      assert.deepEqual(failures, [], `seed ${seed}`);
      assert.ok(sent >= REQUESTS, `only ${sent} of ${REQUESTS} requests before the deadline`);
      assert.equal(unhandled, 0, "unhandled rejections");
      assert.deepEqual(internal, [], "internal errors logged");
      assert.ok((histogram.get(200) ?? 0) > 0 && (histogram.get(401) ?? 0) > 0, "varied answers");

      // The agent still works: a valid command runs (after any async test command finished).
      let answer: { command_status?: string; command_result?: unknown } = {};
      for (let i = 0; i < 50; i++) {
        const res = await fetch(`${base}/v1/commands/?wait=true&agent_token=${TOKEN}`, {
          method: "POST",
          body: JSON.stringify({ name: "test.echo", params: { text: "still alive" } }),
        });
        answer = await res.json();
        if (res.status !== 409) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(answer.command_status, "SUCCEEDED");
      assert.deepEqual(answer.command_result, { result: "still alive" });
    } finally {
      stop.abort();
      await server.finished;
      globalThis.removeEventListener("unhandledrejection", onUnhandled);
      restoreSink();
    }
  },
});
