/**
 * Acceptance test (issue #4): a real, unmodified Ironic conductor (21.4 and 29)
 *
 * 1. runs a custom hardware manager's clean step (`managers/examples/site_manager.ts`,
 *    `record_asset_tag`, loaded with `--hardware-managers`) in a manual cleaning, after which the
 *    node is `manageable` again and the agent's log shows the step ran on that manager;
 * 2. deploys a whole-disk image with `properties.root_device` hints onto the one of two visible
 *    loop devices that the hints select, leaving the other byte for byte as it was.
 *
 * Automated cleaning is off, so nothing but the deployment touches the loop devices. Needs root
 * (loop devices, apt) and Debian's `ironic-common` (installed when missing). Run it alone with:
 *
 *   deno test -A --no-prompt tests/e2e/custom_manager_and_hints_test.ts
 *
 * `IRONIC_E2E_KEEP=1` keeps Ironic's state dir and the agents' logs for inspection.
 */

import assert from "node:assert/strict";
import { createLoopDevice, type LoopDevice } from "../harness/loop.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  enrollNode,
  MiB,
  printTimings,
  readDisk,
  seedBackingFile,
  sha256Hex,
  transition,
  watchNode,
  withFlow,
} from "../harness/flow_fixtures.ts";

const ASSET_TAG = "rack-42-u07";

/** Fills the start of the backing file (never the block device) with random bytes. */
async function seedRandom(disk: LoopDevice, length: number): Promise<void> {
  const bytes = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, length)));
  }
  await seedBackingFile(disk, bytes);
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} runs a custom manager's clean step and deploys to the ` +
      "hinted loop device",
    ignore: cannotRunE2e(),
    async fn() {
      // Nothing but the deployment may touch the disks, so the bystander can be compared.
      await withFlow(release, {
        extraConfig: { conductor: { automated_clean: false } },
      }, async (flow) => {
        const { client, image, digest } = flow;
        // Both under the 4 GiB default rule; only `target` is at least 1 GiB (sparse files).
        const bystander = flow.disk; // 64 MiB
        await using target = await createLoopDevice({ sizeMiB: 1088 });

        await seedRandom(bystander, 2 * MiB);
        await seedRandom(target, 2 * MiB);
        const bystanderBefore = await sha256Hex(await readDisk(bystander, 2 * MiB));

        const node = await enrollNode(flow, {
          name: "e2e-hints-node",
          properties: { root_device: { size: ">= 1" } },
        });
        await using watching = watchNode(flow, node, {
          blockDevices: [bystander.path, target.path],
          agentExtraArgs: ["--hardware-managers", "managers/examples/site_manager.ts"],
          maxBoots: 4,
        });

        await transition(flow, watching, node, "manage", "manage", "manageable");
        await transition(
          flow,
          watching,
          node,
          "manual cleaning with record_asset_tag",
          "clean",
          "manageable",
          {
            cleanSteps: [{
              interface: "deploy",
              step: "record_asset_tag",
              args: { tag: ASSET_TAG },
            }],
          },
        );
        await watching.settled();
        assert.equal(watching.boots, 1, "one ramdisk boot for the manual cleaning");
        assert.equal(watching.current, null, "cleaning ends with the machine powered off");
        const cleaned = await client.getNode(node.uuid);
        assert.equal(cleaned.last_error, null);
        const cleanLog = await Deno.readTextFile(watching.agents[0]!.logFile);
        assert.match(cleanLog, /running step.*manager=SiteManager/, "dispatched to SiteManager");
        assert.match(cleanLog, new RegExp(`recording asset tag.*tag=${ASSET_TAG}`));
        assert.equal(
          await sha256Hex(await readDisk(bystander, 2 * MiB)),
          bystanderBefore,
          "the custom clean step writes no disk",
        );

        await transition(
          flow,
          watching,
          node,
          "provide (no automated cleaning)",
          "provide",
          "available",
        );
        await transition(
          flow,
          watching,
          node,
          "deploy with root_device hints",
          "active",
          "active",
        );
        await watching.settled();
        assert.equal(watching.boots, 2, "one ramdisk boot for the deployment");

        const written = await readDisk(target, image.length);
        assert.equal(await sha256Hex(written), digest, "the hinted device holds the image");
        assert.equal(
          await sha256Hex(await readDisk(bystander, 2 * MiB)),
          bystanderBefore,
          "the other visible device is untouched",
        );
        const deployLog = await Deno.readTextFile(watching.agents[1]!.logFile);
        assert.match(
          deployLog,
          new RegExp(`Picked root device matching the root device hints.*device=${target.path}`),
        );
        assert.deepEqual(watching.problems, []);

        await watching.stop();
        printTimings(flow, "custom-manager-hints", watching);
      });
    },
  });
}
