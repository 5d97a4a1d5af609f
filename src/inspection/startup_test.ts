import assert from "node:assert/strict";
import { Agent } from "../agent.ts";
import { LookupNodeError } from "../api/errors.ts";
import { defaultConfig } from "../config.ts";
import { ironicError, json, startFakeIronic } from "../ironic/_test_ironic.ts";
import { Logger, setSink } from "../log.ts";
import { systemRunner } from "../system/run.ts";

const NODE = "6f0c1a52-93c4-4b8e-9a51-0f3b2d7c8e44";

/** Runs an agent against one fake server playing inspector and Ironic; returns its requests. */
async function runAgainstFake(
  config: { inspectionCallbackUrl?: (url: string) => string; inspectionCollectors: string | null },
) {
  const restore = setSink(() => {});
  // Inspection answers with the node; lookup fails, so run() ends.
  await using server = startFakeIronic({
    handler(req) {
      if (req.path.startsWith("/v1/continue")) return json(200, { uuid: NODE });
      return ironicError(404, "Not found");
    },
  });
  try {
    const agent = new Agent({
      config: {
        ...defaultConfig(),
        apiUrl: [server.url],
        inspectionCallbackUrl: config.inspectionCallbackUrl?.(server.url) ?? null,
        inspectionCollectors: config.inspectionCollectors,
        listenHost: "127.0.0.1",
        protectHost: true,
        diskWaitAttempts: 0,
        lookupTimeout: 1,
        lookupInterval: 0.05,
        enableAutoTls: false,
      },
      runner: systemRunner,
      log: new Logger(),
      signal: new AbortController().signal,
    });
    await assert.rejects(() => agent.run(), LookupNodeError);
  } finally {
    restore();
  }
  return server.requests;
}

Deno.test("Agent.run() inspects before lookup and looks up with the inspected node UUID", async () => {
  const requests = await runAgainstFake({
    inspectionCallbackUrl: (url) => `${url}/v1/continue`,
    // The sysfs collectors keep the test short; `default` is covered by inspect_test.ts.
    inspectionCollectors: "pci-devices,numa-topology",
  });
  assert.equal(requests[0]?.path, "/v1/continue", "inspection comes first");
  const posted = requests[0]!.body as Record<string, unknown>;
  assert.ok(Array.isArray(posted.pci_devices) && posted.pci_devices.length > 0);
  assert.ok("numa_topology" in posted, "this machine has /sys/devices/system/node");
  assert.equal(posted.error, null);
  const lookup = requests.find((r) => r.path === "/v1/lookup");
  assert.equal(lookup?.query.get("node_uuid"), NODE);
});

Deno.test("Agent.run() with collectors set and no callback URL inspects at the API (IPA-master)", async () => {
  const requests = await runAgainstFake({ inspectionCollectors: "pci-devices" });
  assert.equal(requests[0]?.path, "/v1/continue_inspection", "inspection comes first");
  assert.ok("pci_devices" in (requests[0]!.body as Record<string, unknown>));
  const lookup = requests.find((r) => r.path === "/v1/lookup");
  assert.equal(lookup?.query.get("node_uuid"), NODE);
});

Deno.test("Agent.run() with neither collectors nor callback URL set does not inspect", async () => {
  const requests = await runAgainstFake({ inspectionCollectors: null });
  assert.deepEqual(requests.filter((r) => r.path.startsWith("/v1/continue")), []);
  const lookup = requests.find((r) => r.path === "/v1/lookup");
  assert.ok(lookup, "lookup still runs");
  assert.equal(lookup.query.get("node_uuid"), null);
});
