/**
 * Acceptance test: built-in in-band inspection of Ironic 29 (spec 06 §2, master). The node uses
 * the `agent` inspect interface; `inspect` makes the conductor power the machine on (fake power,
 * so the power watcher boots the agent), the agent POSTs its inventory and plugin data to the
 * conductor's `/v1/continue_inspection`, and the conductor stores them and moves the node back
 * to `manageable`. The test compares `GET /v1/nodes/{node}/inventory` with what the agent sent.
 *
 * Three things stand in for a real deployment:
 * - `fake` boot has no `validate_inspection`, so the `agent` interface refuses to manage the
 *   boot; with `[inspector]require_managed_boot = false` it runs unmanaged inspection (power
 *   off, boot device PXE, power on), the conductor's path is otherwise the same;
 * - so no kernel command line reaches the agent: it gets the callback a managed boot would give
 *   it (`ipa-inspection-callback-url=<api>/v1/continue_inspection`) as a flag;
 * - that URL points at a pass-through on 127.0.0.1 in front of the API, which records the body
 *   (what the agent collected) and forwards it unchanged, answer included.
 *
 * Ironic 21.4 has no inspection endpoint of its own: it inspects through ironic-inspector, which
 * `inspector_flow_test.ts` runs beside the harness Ironic.
 *
 *   IRONIC_E2E_RELEASES=29 deno test -A --no-prompt tests/e2e/builtin_inspection_flow_test.ts
 */

import assert from "node:assert/strict";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  enrollNode,
  type Flow,
  physicalMac,
  printTimings,
  transition,
  watchNode,
  withFlow,
} from "../harness/flow_fixtures.ts";

interface Recorded {
  path: string;
  body: Record<string, unknown>;
  status: number;
  answer: string;
}

/** A recording pass-through to `target` on 127.0.0.1; disposing stops it. */
function recordingProxy(target: string) {
  const recorded: Recorded[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const text = await req.text();
      const forwarded = await fetch(`${target}${url.pathname}${url.search}`, {
        method: req.method,
        headers: req.headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : text,
        signal: AbortSignal.timeout(60_000),
      });
      const answer = await forwarded.text();
      recorded.push({
        path: url.pathname,
        body: JSON.parse(text),
        status: forwarded.status,
        answer,
      });
      return new Response(answer, { status: forwarded.status, headers: forwarded.headers });
    },
  );
  return {
    recorded,
    url: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

interface StoredInspection {
  inventory: Record<string, unknown>;
  plugin_data: Record<string, unknown>;
}

async function storedInspection(flow: Flow, node: string): Promise<StoredInspection> {
  return await flow.client.request<StoredInspection>("GET", `/v1/nodes/${node}/inventory`);
}

// Built-in inspection exists from Ironic 2023.2 on: of the two conductors, only 29 has it.
for (const release of e2eReleases().filter((r) => r === "29")) {
  Deno.test({
    name: `${conductorLabel(release)} built-in inspection stores the agent's inventory`,
    ignore: cannotRunE2e(),
    async fn() {
      await withFlow(release, {
        extraConfig: {
          DEFAULT: { enabled_inspect_interfaces: "agent,no-inspect" },
          // `fake` boot has no validate_inspection, so the `agent` interface refuses managed
          // boot; unmanaged inspection (power off, PXE boot device, power on) is what is left.
          inspector: { require_managed_boot: false },
        },
      }, async (flow) => {
        const { client, ironic, disk } = flow;
        await using proxy = recordingProxy(ironic.url);
        const node = await enrollNode(flow, { inspect_interface: "agent" });
        await using watching = watchNode(flow, node, {
          maxBoots: 3,
          agentExtraArgs: [
            "--inspection-callback-url",
            `${proxy.url}/v1/continue_inspection`,
            // No DHCP to wait for: the interfaces already have their addresses.
            "--inspection-dhcp-wait-timeout",
            "0",
          ],
        });
        await transition(flow, watching, node, "manage", "manage", "manageable");
        const inspected = await transition(
          flow,
          watching,
          node,
          "inspect",
          "inspect",
          "manageable",
          {
            failOn: ["inspect failed"],
          },
        );
        await watching.settled();
        assert.equal(inspected.last_error, null);
        assert.equal(watching.boots, 1, "one ramdisk boot for inspection");
        assert.equal(inspected.power_state, "power off", "the conductor powers off after it");

        // The agent posted once, unauthenticated, and the conductor accepted it for this node.
        assert.equal(proxy.recorded.length, 1, JSON.stringify(proxy.recorded.map((r) => r.path)));
        const post = proxy.recorded[0]!;
        assert.equal(post.path, "/v1/continue_inspection");
        assert.ok(post.status >= 200 && post.status < 300, `answer ${post.status}: ${post.answer}`);
        assert.equal(JSON.parse(post.answer).uuid, node.uuid, "Ironic found the node by its MAC");
        assert.equal(post.body.error, null, "no collector failed");
        const sent = post.body.inventory as Record<string, unknown>;

        // What Ironic stored is what the agent collected.
        const stored = await storedInspection(flow, node.uuid);
        assert.deepEqual(stored.inventory, sent);
        assert.deepEqual(stored.plugin_data.root_disk ?? null, post.body.root_disk ?? null);
        assert.deepEqual(stored.plugin_data.configuration, post.body.configuration);
        assert.deepEqual(
          (post.body.configuration as { collectors: string[] }).collectors,
          ["default", "logs"],
        );

        // And the agent collected this machine: its NIC and the one disk it may see.
        const mac = await physicalMac();
        const nics = sent.interfaces as { mac_address: string }[];
        assert.ok(nics.some((i) => i.mac_address === mac), `interface ${mac} in the inventory`);
        const disks = sent.disks as { name: string; size: number }[];
        assert.deepEqual(disks.map((d) => [d.name, d.size]), [[disk.path, disk.sizeBytes]]);
        const cpu = sent.cpu as { count: number; architecture: string };
        assert.equal(cpu.architecture, "x86_64");
        assert.ok(cpu.count >= 1);
        // The conductor's `architecture` hook read the inventory into the node.
        const after = await client.getNode(node.uuid);
        assert.equal(after.properties.cpu_arch, "x86_64");
        assert.deepEqual(watching.problems, []);
        await watching.stop();
        printTimings(flow, "builtin-inspection", watching);
      });
    },
  });
}
