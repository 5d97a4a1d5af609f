/**
 * In-band inspection against the real services of the 21.4 era (spec 06 §2, §7): Ironic 21.4
 * with the `inspector` inspect interface, Debian's ironic-inspector 11.1 beside it, and the
 * agent posting to `<inspector>/v1/continue`. `baremetal node inspect` makes Ironic start the
 * introspection in ironic-inspector; the agent's POST is accepted, ironic-inspector's hooks
 * update the node (CPUs, memory) in Ironic, and Ironic's status poll moves the node back to
 * `manageable`.
 *
 * Needs root (a loop device: ironic-inspector refuses an inventory without disks), Debian's
 * `ironic-common` and `ironic-inspector`; skipped when ironic-inspector is not installed.
 *
 *   deno test -A --no-prompt tests/e2e/inspector_flow_test.ts
 */
import assert from "node:assert/strict";
import { startAgent } from "../harness/agent_process.ts";
import { hasInspector, startInspector } from "../harness/inspector.ts";
import { startIronic } from "../harness/ironic.ts";
import { createLoopDevice } from "../harness/loop.ts";
import { freePort, printDiagnostics, printTails } from "../harness/process_util.ts";

/** MAC of the first interface with a device and an IPv4 address (ironic-inspector keeps those). */
function machineInterface(): { name: string; mac: string } {
  const candidates = Deno.networkInterfaces().filter((i) =>
    i.family === "IPv4" && i.name !== "lo" && i.mac !== "00:00:00:00:00:00"
  );
  const chosen = candidates[0];
  if (!chosen) throw new Error("No non-loopback IPv4 interface to inspect");
  return { name: chosen.name, mac: chosen.mac };
}

Deno.test({
  name: "ironic-inspector 11.1 accepts the agent's inspection and Ironic 21.4 finishes inspect",
  ignore: Deno.uid() !== 0 || !(await hasInspector()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "inspector-flow-" });
    await using disk = await createLoopDevice({ sizeMiB: 64 });
    // Each service names the other in its configuration: choose the inspector's port first.
    const inspectorPort = freePort();
    await using ironic = await startIronic({
      extraConfig: {
        DEFAULT: { enabled_inspect_interfaces: "inspector,no-inspect" },
        inspector: {
          endpoint_override: `http://127.0.0.1:${inspectorPort}`,
          // Ironic polls ironic-inspector for the result, every 60 s by default.
          status_check_period: 2,
          power_off: false,
        },
      },
    });
    await using inspector = await startInspector({ ironicUrl: ironic.url, port: inspectorPort });
    const agentLog = `${dir}/agent.log`;
    try {
      const nic = machineInterface();
      const node = await ironic.client.createNode({
        name: "inspected",
        inspect_interface: "inspector",
      });
      await ironic.client.createPort(node.uuid, nic.mac);
      await ironic.client.setProvisionState(node.uuid, "manage");
      await ironic.client.waitForProvisionState(node.uuid, "manageable", { timeoutMs: 30_000 });

      await ironic.client.setProvisionState(node.uuid, "inspect");
      // "inspect wait" keeps its target ("manageable") until the data arrives.
      for (
        let i = 0;
        (await ironic.client.getNode(node.uuid)).provision_state !== "inspect wait";
        i++
      ) {
        if (i >= 120) throw new Error(`Node ${node.uuid} did not reach "inspect wait" in 30 s`);
        await new Promise((r) => setTimeout(r, 250));
      }

      await using _agent = await startAgent({
        apiUrl: ironic.url,
        blockDevices: [disk.path],
        logFile: agentLog,
        extraArgs: [
          "--inspection-callback-url",
          `${inspector.url}/v1/continue`,
          "--inspection-collectors",
          "default,pci-devices",
          "--inspection-dhcp-wait-timeout",
          "0",
        ],
      });

      const inspected = await ironic.client.waitForProvisionState(node.uuid, "manageable", {
        timeoutMs: 90_000,
        failOn: ["inspect failed"],
      });
      const status = await inspector.status(node.uuid);
      assert.equal(status.finished, true);
      assert.equal(status.error, null);
      // ironic-inspector's scheduler hook wrote what the agent reported.
      const props = inspected.properties as Record<string, unknown>;
      assert.equal(Number(props.cpus), navigator.hardwareConcurrency);
      assert.ok(Number(props.memory_mb) > 0, `memory_mb ${props.memory_mb}`);
      const log = await Deno.readTextFile(agentLog);
      assert.match(log, new RegExp(node.uuid));
    } catch (err) {
      printDiagnostics(`inspector flow failed: ${(err as Error).message}`);
      await printTails([
        { label: "agent", path: agentLog },
        { label: "ironic-inspector", path: inspector.logFile },
        { label: "ironic", path: ironic.logFile },
      ], 80);
      throw err;
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
