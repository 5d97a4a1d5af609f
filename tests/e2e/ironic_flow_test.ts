/**
 * Acceptance test: a real, unmodified Ironic conductor (21.4 on the host, 29 in a trixie chroot)
 * drives this agent through automated cleaning, a `direct` whole-disk deployment and an
 * undeploy, on a loop device. Ironic 29 sends `disk_format: null` for the raw image; 21.4 sends
 * its own guess.
 *
 * Needs root (loop devices, apt, chroot), Debian's `ironic-common` (installed when missing), the
 * Ironic 29 chroot (built once when missing, ~6 min) and about a minute per conductor. Run it
 * alone with:
 *
 *   deno test -A --no-prompt tests/e2e/ironic_flow_test.ts
 *
 * `IRONIC_E2E_RELEASES=21.4` (or `29`) runs one conductor; `IRONIC_E2E_KEEP=1` keeps Ironic's
 * state dir and the agents' logs for inspection.
 */

import assert from "node:assert/strict";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  enrollNode,
  firstDifference,
  MiB,
  partitionTable,
  printTimings,
  readDisk,
  seedBackingFile,
  storedRamdiskLogs,
  transition,
  watchNode,
  withFlow,
} from "../harness/flow_fixtures.ts";

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} cleans, deploys and undeploys a node through the agent`,
    ignore: cannotRunE2e(),
    async fn() {
      await withFlow(release, {}, async (flow) => {
        const { client, disk, image, ironic, images } = flow;
        const node = await enrollNode(flow);
        await using watching = watchNode(flow, node, { maxBoots: 6 });

        await transition(flow, watching, node, "manage", "manage", "manageable");

        // A partition table for the automated cleaning to remove.
        await seedBackingFile(disk, image.subarray(0, MiB));
        assert.equal(partitionTable(await readDisk(disk, 4096)), "mbr");

        await transition(
          flow,
          watching,
          node,
          "provide (automated cleaning)",
          "provide",
          "available",
        );
        await watching.settled();
        assert.equal(watching.boots, 1, "one ramdisk boot for cleaning");
        assert.equal(watching.current, null, "the agent is stopped when cleaning powers off");
        assert.equal(partitionTable(await readDisk(disk, 4096)), null, "cleaning erased metadata");
        assert.equal(
          (await storedRamdiskLogs(ironic)).cleaning,
          1,
          "logs collected after cleaning",
        );

        const deployed = await transition(flow, watching, node, "deploy", "active", "active");
        assert.equal(deployed.power_state, "power on", "the instance is booted");
        await watching.settled();
        assert.equal(watching.boots, 2, "one ramdisk boot for the deployment");
        assert.equal(watching.current, null, "the machine boots its disk, not the agent");
        const written = await readDisk(disk, image.length);
        assert.equal(firstDifference(written, image), -1, "the loop device starts with the image");
        assert.equal(
          (await storedRamdiskLogs(ironic)).deploy,
          1,
          "logs collected at tear_down_agent",
        );

        await transition(
          flow,
          watching,
          node,
          "undeploy (deleted, cleaning)",
          "deleted",
          "available",
        );
        await watching.settled();
        assert.equal(watching.boots, 3, "one ramdisk boot for cleaning after undeploy");
        assert.equal(watching.current, null);
        assert.equal(partitionTable(await readDisk(disk, 4096)), null, "cleaning erased metadata");
        const final = await client.getNode(node.uuid);
        assert.equal(final.power_state, "power off");
        assert.equal(final.last_error, null);
        assert.deepEqual(await storedRamdiskLogs(ironic), { cleaning: 2, deploy: 1 });
        assert.deepEqual(watching.problems, []);
        assert.ok(images.requests("/disk.img") >= 1, "the image was downloaded");

        await watching.stop();
        printTimings(flow, "clean-deploy-undeploy", watching);
      });
    },
  });
}
