/**
 * Acceptance test of issue 9: the ramdisk of `deno task build-ramdisk` (built first when
 * imagebuild/out has none) boots in a VM as the machine of a real Ironic 21.4 node, which
 * cleans it (erase_devices_metadata), deploys a raw whole-disk image to the VM's first disk and
 * reaches `active`. The guest's own `standby.power_off` really powers the VM off, and the power
 * watcher sees that as the machine powering off. Each boot's serial console stays in tests/.out/.
 *
 * CPU-heavy: two boots under TCG where KVM cannot run guests (several minutes). Run it alone:
 *
 *   deno test -A --no-prompt tests/e2e/ramdisk_ironic_vm_test.ts
 */
import assert from "node:assert/strict";
import { cannotRunE2e, firstDifference } from "../harness/flow_fixtures.ts";
import { printDiagnostics } from "../harness/process_util.ts";
import { ensureRamdisk, qemuInstalled } from "../harness/vm.ts";
import { readHead, runVmDeployFlow } from "../harness/vm_flow.ts";

const ARTIFACTS = decodeURIComponent(new URL("../.out/", import.meta.url).pathname);

Deno.test({
  name: "[Ironic 21.4] cleans and deploys a VM booted from the ramdisk, to active",
  ignore: cannotRunE2e() || !(await qemuInstalled()),
  async fn() {
    const ramdisk = await ensureRamdisk();
    const logDir = await Deno.makeTempDir({ prefix: "ipa-vm-logs-" });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    try {
      await using flow = await runVmDeployFlow({ ramdisk, logDir });
      const { watcher, boots } = flow;

      assert.equal(flow.tableBeforeCleaning, "mbr", "the seeded partition table");
      assert.equal(flow.tableAfterCleaning, null, "cleaning erased /dev/vda's metadata");
      assert.equal(flow.node.provision_state, "active");
      assert.equal(flow.node.last_error, null);
      assert.equal(boots.length, 2, `one boot for cleaning, one for deploying:\n${watcher.events}`);
      assert.equal(watcher.current, null, "the machine runs its instance, not the ramdisk");
      assert.deepEqual(watcher.problems, []);

      // The deploy boot ended by the guest powering itself off (standby.power_off in
      // tear_down_agent), before Ironic forced power off: "exited by itself", code 0.
      const deployBoot = boots[1]!.vm;
      assert.ok(
        watcher.events.some((e) => e.includes(`(pid ${deployBoot.pid}) exited by itself: code 0`)),
        `the watcher saw the VM power itself off:\n${watcher.events.join("\n")}`,
      );
      const deploySerial = await Deno.readTextFile(deployBoot.logFile);
      assert.match(deploySerial, /command started command=standby\.power_off/);
      assert.match(deploySerial, /reboot: Power down/);

      // The image went through the node's proxy: the agent's GET and the conductor's HEAD.
      assert.ok(
        flow.imageRequests.some((r) => r.method === "GET"),
        `the agent downloaded the image: ${JSON.stringify(flow.imageRequests)}`,
      );
      const written = await readHead(flow.disks[0]!, flow.image.length);
      assert.equal(firstDifference(written, flow.image), -1, "/dev/vda starts with the image");

      for (const [i, boot] of boots.entries()) {
        assert.ok(boot.firstHeartbeatMs !== null, `boot ${i + 1} heartbeated`);
      }
      printDiagnostics(
        `ramdisk VM flow (${deployBoot.accel}): first heartbeat after ` +
          `${boots.map((b) => `${(b.firstHeartbeatMs! / 1000).toFixed(1)} s`).join(", ")}; ` +
          `clean ${(flow.timings.cleanMs / 1000).toFixed(1)} s, deploy → active ` +
          `${(flow.timings.deployMs / 1000).toFixed(1)} s\n${watcher.events.join("\n")}`,
      );
    } finally {
      // The serial consoles are the artifact, kept whatever the outcome.
      for await (const entry of Deno.readDir(logDir)) {
        const boot = /^agent-(\d+)\.log$/.exec(entry.name)?.[1];
        if (boot) {
          await Deno.copyFile(
            `${logDir}/${entry.name}`,
            `${ARTIFACTS}ramdisk_ironic_vm_boot${boot}_serial.log`,
          );
        }
      }
      await Deno.remove(logDir, { recursive: true });
    }
  },
});
