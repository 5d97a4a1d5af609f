import assert from "node:assert/strict";
import { Agent } from "../agent.ts";
import { LookupNodeError } from "../api/errors.ts";
import { defaultConfig } from "../config.ts";
import { ironicError, json, startFakeIronic } from "../ironic/_test_ironic.ts";
import { Logger, setSink } from "../log.ts";
import { systemRunner } from "../system/run.ts";

const NODE = "6f0c1a52-93c4-4b8e-9a51-0f3b2d7c8e44";

Deno.test("Agent.run() inspects before lookup and looks up with the inspected node UUID", async () => {
  const restore = setSink(() => {});
  // One fake server plays inspector (/v1/continue) and Ironic; lookup fails so run() ends.
  await using server = startFakeIronic({
    handler(req) {
      if (req.path === "/v1/continue") return json(200, { uuid: NODE });
      return ironicError(404, "Not found");
    },
  });
  try {
    const agent = new Agent({
      config: {
        ...defaultConfig(),
        apiUrl: [server.url],
        inspectionCallbackUrl: `${server.url}/v1/continue`,
        // The sysfs collectors keep the test short; `default` is covered by inspect_test.ts.
        inspectionCollectors: "pci-devices,numa-topology",
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
  const paths = server.requests.map((r) => r.path);
  assert.equal(paths[0], "/v1/continue", "inspection comes first");
  const posted = server.requests[0]!.body as Record<string, unknown>;
  assert.ok(Array.isArray(posted.pci_devices) && posted.pci_devices.length > 0);
  assert.ok("numa_topology" in posted, "this machine has /sys/devices/system/node");
  assert.equal(posted.error, null);
  const lookup = server.requests.find((r) => r.path === "/v1/lookup");
  assert.equal(lookup?.query.get("node_uuid"), NODE);
});
