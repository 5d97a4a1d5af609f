/**
 * Acceptance test, Ironic 29 only (21.4 has no servicing): `baremetal node service` on an
 * `active` node boots the agent, runs the step through `service.execute_service_step` and
 * returns to `active`; a failing step ends in `service failed` with the agent's message in
 * `last_error`. The steps come from tests/fixtures/service_manager.ts, loaded with
 * `--hardware-managers`. Runs with `[deploy]fast_track = true`: see the note at `setUpFlow`.
 *
 *   deno test -A --no-prompt tests/e2e/service_steps_flow_test.ts
 */

import assert from "node:assert/strict";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  enrollNode,
  printTimings,
  transition,
  watchNode,
  withFlow,
} from "../harness/flow_fixtures.ts";
import { sleep } from "../harness/process_util.ts";
import { FAILURE_MESSAGE } from "../fixtures/service_manager.ts";

const MANAGER = decodeURIComponent(
  new URL("../fixtures/service_manager.ts", import.meta.url).pathname,
);

const release = "29" as const;
Deno.test({
  name: `${
    conductorLabel(release)
  } service steps: one succeeds (active), one fails (service failed)`,
  ignore: cannotRunE2e() || !e2eReleases().includes(release),
  async fn() {
    // Ironic 29.0 allows a lookup in `service wait` only with fast track (its
    // LOOKUP_ALLOWED_STATES lacks the servicing states; FASTTRACK_LOOKUP_ALLOWED_STATES has them),
    // so a freshly booted agent could never find its node without it.
    await withFlow(release, { extraConfig: { deploy: { fast_track: true } } }, async (flow) => {
      const { client } = flow;
      const node = await enrollNode(flow);
      await using watching = watchNode(flow, node, {
        maxBoots: 6,
        agentExtraArgs: ["--hardware-managers", MANAGER],
      });
      await transition(flow, watching, node, "manage", "manage", "manageable");
      await transition(flow, watching, node, "provide", "provide", "available");
      await transition(flow, watching, node, "deploy", "active", "active");

      await watching.settled();
      const bootsBefore = watching.boots;
      const marker = `${flow.dir}/service-marker`;
      const text = `serviced ${crypto.randomUUID()}`;
      const serviced = await transition(
        flow,
        watching,
        node,
        "service (success)",
        "service",
        "active",
        {
          serviceSteps: [{
            interface: "deploy",
            step: "write_marker",
            args: { path: marker, text },
          }],
        },
      );
      assert.equal(serviced.last_error, null);
      assert.equal(await Deno.readTextFile(marker), text, "the step ran with its arguments");
      await watching.settled();
      assert.equal(watching.boots, bootsBefore + 1, "one ramdisk boot for servicing");
      assert.equal(watching.current, null, "the instance runs again, not the agent");

      const reason = `reason-${crypto.randomUUID().slice(0, 8)}`;
      // A failed service keeps target_provision_state "active", so wait for the state alone.
      const failed = await flow.timer.phase("service (failure)", async () => {
        await client.setProvisionState(node.uuid, "service", {
          serviceSteps: [{ interface: "deploy", step: "fail_on_purpose", args: { reason } }],
        });
        const deadline = Date.now() + 120_000;
        for (;;) {
          const current = await client.getNode(node.uuid);
          if (current.provision_state === "service failed" || Date.now() > deadline) return current;
          if (watching.signal.aborted) throw watching.signal.reason;
          await sleep(250);
        }
      });
      assert.equal(failed.provision_state, "service failed");
      assert.ok(
        failed.last_error?.includes(`${FAILURE_MESSAGE}: ${reason}`),
        `last_error carries the agent's message: ${failed.last_error}`,
      );
      assert.match(failed.last_error ?? "", /fail_on_purpose/);
      assert.deepEqual(watching.problems, []);
      await watching.stop();
      printTimings(flow, "service-steps", watching);
    });
  },
});
