/**
 * Custom hardware managers in the ramdisk (issue #9, scope 4): the kernel parameter
 * `ipa-hardware-managers=<url>#sha256=<pin>` makes the booted agent fetch the manager from a web
 * server on the host (reached from the guest at 10.0.2.2), check its pin and load it, offline
 * otherwise (the launcher grants imports from that one host, see imagebuild/launch_flags.ts).
 * Checked through the agent API (hostfwd): `clean.get_clean_steps` offers the manager's step.
 *
 * The VM's disks are its own files, so the agent runs without --protect-host, as in any ramdisk.
 * The serial console log stays in tests/.out/ as an artifact.
 */
import assert from "node:assert/strict";
import {
  createDiskFiles,
  ensureRamdisk,
  HOST_FROM_GUEST,
  qemuInstalled,
  startVm,
} from "../harness/vm.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const ARTIFACTS = `${ROOT}tests/.out`;
const MANAGER = `${ROOT}managers/examples/site_manager.ts`;
const BOOT_BOUND_MS = 240_000;

type Json = Record<string, unknown>;

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "ramdisk: ipa-hardware-managers fetches a pinned manager from the host and offers its step",
  ignore: !(await qemuInstalled()),
  async fn() {
    const { kernel, initrd } = await ensureRamdisk();
    const bytes = await Deno.readFile(MANAGER);
    const pin = await sha256Hex(bytes);
    const requests: string[] = [];
    // 127.0.0.1 only: slirp forwards the guest's 10.0.2.2 to the host's loopback.
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      requests.push(path);
      return path === "/managers/site_manager.ts"
        ? new Response(bytes, { headers: { "content-type": "application/typescript" } })
        : new Response("not found", { status: 404 });
    });
    const managerUrl =
      `http://${HOST_FROM_GUEST}:${server.addr.port}/managers/site_manager.ts#sha256=${pin}`;
    const dir = await Deno.makeTempDir({ prefix: "ipa-vm-manager-" });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const serialLog = `${ARTIFACTS}/ramdisk_manager_vm_serial.log`;
    await Deno.writeTextFile(serialLog, "");
    const token = crypto.randomUUID().replaceAll("-", "");
    await using vm = await startVm({
      kernel,
      initrd,
      disks: await createDiskFiles(dir, 1),
      serialLog,
      params: {
        "ipa-standalone": "1",
        "ipa-agent-token": token,
        "ipa-hardware-managers": managerUrl,
      },
    });
    try {
      let steps: Json | null = null;
      while (steps === null && !vm.exited && Date.now() - vm.startedAt < BOOT_BOUND_MS) {
        try {
          const res = await fetch(`${vm.url}/v1/commands/?wait=true&agent_token=${token}`, {
            method: "POST",
            body: JSON.stringify({
              name: "clean.get_clean_steps",
              params: { node: { uuid: crypto.randomUUID(), properties: {} }, ports: [] },
            }),
            signal: AbortSignal.timeout(10_000),
          });
          const body = await res.json();
          assert.equal(res.status, 200, `get_clean_steps answered ${res.status}: ${body}`);
          assert.equal(body.command_status, "SUCCEEDED", JSON.stringify(body));
          steps = body.command_result as Json;
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          // slirp accepts before the guest listens; retry.
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
      const serial = await Deno.readTextFile(serialLog);
      assert.ok(steps, `the agent did not answer within ${BOOT_BOUND_MS} ms; serial:\n${serial}`);
      // Keyed by the class of the manager whose offer won: the site manager's own step.
      const offered = steps.clean_steps as Record<string, { step: string; interface: string }[]>;
      assert.deepEqual(
        offered.SiteManager?.map((s) => [s.step, s.interface]),
        [["record_asset_tag", "deploy"]],
        `clean steps: ${JSON.stringify(offered)}`,
      );
      assert.equal((steps.hardware_manager_version as Json).site_manager, "1.0");
      assert.deepEqual(requests, ["/managers/site_manager.ts"], "fetched once, by the agent");
      // The launcher granted exactly the manager's host, and kept the agent offline otherwise.
      assert.match(
        serial,
        new RegExp(
          `module flags: --allow-import=${HOST_FROM_GUEST.replaceAll(".", "\\.")}:` +
            `${server.addr.port} --cached-only`,
        ),
      );
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `ramdisk VM (${vm.accel}): custom manager step offered after ` +
            `${((Date.now() - vm.startedAt) / 1000).toFixed(1)} s; serial log ${serialLog}\n`,
        ),
      );
    } finally {
      await vm.stop();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
