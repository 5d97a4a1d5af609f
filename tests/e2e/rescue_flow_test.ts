/**
 * Acceptance test: rescue → rescue → unrescue → active through the `agent` rescue interface of a
 * real Ironic (21.4 and 29). The conductor sends the rescue password hashed (`$5$`, its default
 * `rescue_password_hash_algorithm`); the agent stores it under its state dir (`--protect-host`:
 * never the host's /etc), marks the machine rescued and stops serving (spec 01 §1, 03 §6).
 *
 * One deviation from a real deployment, both releases: `fake` boot has no `validate_rescue`, so
 * the agent rescue interface refuses the node unless `[agent]manage_agent_boot = false`; fake
 * boot does nothing either way, so the conductor's rescue path is otherwise unchanged.
 *
 *   deno test -A --no-prompt tests/e2e/rescue_flow_test.ts
 */

import assert from "node:assert/strict";
import { sha256Crypt } from "../../src/rescue/sha256_crypt.ts";
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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} rescues and unrescues a deployed node through the agent`,
    ignore: cannotRunE2e(),
    async fn() {
      await withFlow(release, {
        extraConfig: {
          DEFAULT: { enabled_rescue_interfaces: "agent,no-rescue" },
          agent: { manage_agent_boot: false },
        },
      }, async (flow) => {
        const hostFiles = ["/etc/ipa-rescue-config", "/etc/.rescued"];
        const hostBefore = await Promise.all(hostFiles.map(exists));
        const node = await enrollNode(flow, { rescue_interface: "agent" });
        // The agents' state dirs are kept (the rescue one holds the password); removed below.
        await using watching = watchNode(flow, node, { maxBoots: 5, keepStateDir: true });
        try {
          await transition(flow, watching, node, "manage", "manage", "manageable");
          await transition(flow, watching, node, "provide", "provide", "available");
          await transition(flow, watching, node, "deploy", "active", "active");
          await watching.settled();
          assert.equal(watching.boots, 2);

          const password = `Rescue-${crypto.randomUUID()}`;
          const rescued = await transition(flow, watching, node, "rescue", "rescue", "rescue", {
            rescuePassword: password,
          });
          assert.equal(rescued.last_error, null);
          assert.equal(rescued.power_state, "power on");
          assert.equal(
            rescued.instance_info.rescue_password,
            undefined,
            "the conductor dropped the password after rescue",
          );
          await watching.settled();
          // AgentRescue.rescue powers off, then writes "power on" into the database without a
          // power action (to hide the off state from nova), then powers on: the emulated machine
          // may see that as a boot of its own before the real power-on reboots it.
          const rescueBoots = watching.boots - 2;
          assert.ok(
            rescueBoots === 1 || rescueBoots === 2,
            `ramdisk boots for rescue: ${rescueBoots}`,
          );
          const agent = watching.agents.at(-1)!;
          const status = await agent.status;
          assert.equal(status.code, 0, "the agent exits by itself after finalize_rescue");
          assert.equal(watching.current, null, "nothing restarts it in the rescue state");

          const stored = (await Deno.readTextFile(
            `${agent.stateDir}/ipa-rescue-config/ipa-rescue-password`,
          )).trim();
          assert.match(stored, /^\$5\$/, "the conductor's sha256 crypt hash, as sent");
          assert.equal(await sha256Crypt(password, stored), stored, "the hash is of the password");
          assert.ok(await exists(`${agent.stateDir}/.rescued`), "rescue marker in the state dir");
          const log = await Deno.readTextFile(agent.logFile);
          assert.ok(log.includes("rescue.finalize_rescue"), "the conductor called finalize_rescue");
          assert.ok(!log.includes(password), "the password is never logged");
          assert.ok(!log.includes(stored), "nor its hash");
          assert.deepEqual(await Promise.all(hostFiles.map(exists)), hostBefore, "host /etc");

          const back = await transition(flow, watching, node, "unrescue", "unrescue", "active");
          assert.equal(back.power_state, "power on", "the instance boots again");
          assert.equal(back.last_error, null);
          await watching.settled();
          assert.equal(watching.boots, rescueBoots + 2, "unrescue boots the disk, not the agent");
          assert.deepEqual(watching.problems, []);
          await watching.stop();
          printTimings(flow, "rescue-unrescue", watching);
        } finally {
          await watching.stop();
          for (const a of watching.agents) {
            await Deno.remove(a.stateDir, { recursive: true }).catch(() => {});
          }
        }
      });
    },
  });
}
