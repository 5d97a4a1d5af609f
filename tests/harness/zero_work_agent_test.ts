import assert from "node:assert/strict";
import { startZeroWorkAgent } from "./zero_work_agent.ts";

/** A fake Ironic API: lookup answers after one 404 (node not ready yet); heartbeats recorded. */
function fakeIronic() {
  const heartbeats: Record<string, unknown>[] = [];
  let lookups = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/v1/lookup") {
      if (++lookups === 1) return Response.json({ error_message: "not found" }, { status: 404 });
      return Response.json({
        node: { uuid: "node-1" },
        config: { agent_token: "secret-token", heartbeat_timeout: 1 },
      });
    }
    if (url.pathname === "/v1/heartbeat/node-1" && req.method === "POST") {
      heartbeats.push(await req.json());
      return new Response(null, { status: 202 });
    }
    return new Response("no", { status: 400 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    heartbeats,
    lookups: () => lookups,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("startZeroWorkAgent() looks up, heartbeats and answers steps without work", async () => {
  await using ironic = fakeIronic();
  const dir = await Deno.makeTempDir({ prefix: "zero-work-test-" });
  try {
    const agent = await startZeroWorkAgent({
      apiUrl: ironic.url,
      blockDevices: ["/dev/loop-none"],
      logFile: `${dir}/agent.log`,
    });
    try {
      const deadline = Date.now() + 10_000;
      while (ironic.heartbeats.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(ironic.lookups(), 2, "retried the lookup");
      assert.deepEqual(ironic.heartbeats[0], {
        callback_url: agent.url,
        agent_token: "secret-token",
        agent_version: "0.0.0-zero-work",
      });

      const post = (name: string, params: unknown, token = "secret-token") =>
        fetch(`${agent.url}/v1/commands/?wait=true&agent_token=${token}`, {
          method: "POST",
          body: JSON.stringify({ name, params }),
        });
      const refused = await post("clean.get_clean_steps", {}, "wrong");
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      const steps = await (await post("clean.get_clean_steps", {})).json();
      assert.equal(steps.command_name, "get_clean_steps");
      assert.deepEqual(
        steps.command_result.clean_steps.GenericHardwareManager.map((s: { step: string }) =>
          s.step
        ),
        ["erase_devices", "erase_devices_metadata"],
      );
      const step = { interface: "deploy", step: "erase_devices_metadata" };
      const run = await (await post("clean.execute_clean_step", { step })).json();
      assert.equal(run.command_status, "SUCCEEDED");
      assert.deepEqual(run.command_result, { clean_result: null, clean_step: step });
      const logs = await (await post("log.collect_system_logs", {})).json();
      const tar = await new Response(
        new Blob([Uint8Array.fromBase64(logs.command_result.system_logs)]).stream()
          .pipeThrough(new DecompressionStream("gzip")),
      ).arrayBuffer();
      assert.equal(tar.byteLength, 1024, "an empty tar archive");
      const list = await (await fetch(`${agent.url}/v1/commands/`)).json();
      assert.deepEqual(
        list.commands.map((c: { command_name: string }) => c.command_name),
        ["get_clean_steps", "execute_clean_step", "collect_system_logs"],
      );
    } finally {
      const status = await agent.stop();
      assert.equal(status.code, 0);
      assert.ok(agent.exited);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
