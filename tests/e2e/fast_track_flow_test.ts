/**
 * Acceptance test: fast track (`[deploy]fast_track = true`, spec 01 §4, 11 §4.6) against a real
 * Ironic (21.4 and 29). After automated cleaning the conductor leaves the machine on; the agent
 * keeps heartbeating while the node is `available`, and the deployment runs on that same agent
 * process (same PID, no second ramdisk boot).
 *
 *   deno test -A --no-prompt tests/e2e/fast_track_flow_test.ts
 */

import assert from "node:assert/strict";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  enrollNode,
  firstDifference,
  printTimings,
  readDisk,
  transition,
  watchNode,
  withFlow,
} from "../harness/flow_fixtures.ts";
import type { IronicClient } from "../harness/ironic.ts";
import { sleep } from "../harness/process_util.ts";

async function lastHeartbeat(client: IronicClient, node: string): Promise<unknown> {
  return (await client.getNode(node)).driver_internal_info.agent_last_heartbeat;
}

/** Waits (bounded) until Ironic records a heartbeat newer than `since`. */
async function nextHeartbeat(client: IronicClient, node: string, since: unknown) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const now = await lastHeartbeat(client, node);
    if (now !== undefined && now !== since) return now;
    await sleep(250);
  }
  throw new Error(`No heartbeat recorded for ${node} within 20 s (last ${since})`);
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} fast track: cleans, then deploys on the same agent`,
    ignore: cannotRunE2e(),
    async fn() {
      await withFlow(release, { extraConfig: { deploy: { fast_track: true } } }, async (flow) => {
        const { client, disk, image } = flow;
        const node = await enrollNode(flow);
        await using watching = watchNode(flow, node, { maxBoots: 4 });
        await transition(flow, watching, node, "manage", "manage", "manageable");
        const available = await transition(
          flow,
          watching,
          node,
          "provide (cleaning)",
          "provide",
          "available",
        );
        assert.equal(available.power_state, "power on", "fast track leaves the machine on");
        await watching.settled();
        assert.equal(watching.boots, 1);
        const agent = watching.current;
        assert.ok(agent, "the agent keeps running after cleaning");

        // Heartbeats go on (and Ironic records them) while the node is available.
        const first = await nextHeartbeat(client, node.uuid, undefined);
        await nextHeartbeat(client, node.uuid, first);
        assert.equal((await client.getNode(node.uuid)).provision_state, "available");

        const deployed = await transition(flow, watching, node, "deploy", "active", "active");
        assert.equal(deployed.last_error, null);
        await watching.settled();
        assert.equal(watching.boots, 1, "no ramdisk boot between cleaning and deploy");
        assert.equal(watching.agents[0]!.pid, agent.pid, "the same agent process");
        const written = await readDisk(disk, image.length);
        assert.equal(firstDifference(written, image), -1, "the image was written");
        const log = await Deno.readTextFile(agent.logFile);
        assert.match(log, /execute_clean_step/, "that agent cleaned");
        assert.match(log, /execute_deploy_step/, "and deployed");
        assert.deepEqual(watching.problems, []);
        await watching.stop();
        printTimings(flow, "fast-track", watching);
      });
    },
  });
}
