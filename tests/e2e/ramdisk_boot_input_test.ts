/**
 * Bad input at boot, seen where an operator sees it: the serial console of the ramdisk of
 * `deno task build-ramdisk` (built first when imagebuild/out has none), booted in a VM with
 * deliberately wrong kernel parameters. Each boot ends as soon as the console shows what is
 * expected (bounded), and its console stays in tests/.out/.
 *
 * - `ipa-api-url` pointing at a closed port: the agent says it cannot reach Ironic at that URL
 *   and keeps retrying lookup (spec 01 §1: lookup retries until `lookup_timeout`);
 * - no `ipa-api-url` at all: the agent names the missing parameter (and still serves its API);
 * - `ipa-listen-port=abc`: the agent names the parameter and the value, exits, and the init
 *   system restarts it.
 *
 *   deno test -A --no-prompt tests/e2e/ramdisk_boot_input_test.ts
 */
import assert from "node:assert/strict";
import { freePort, sleep } from "../harness/process_util.ts";
import {
  createDiskFiles,
  ensureRamdisk,
  HOST_FROM_GUEST,
  qemuInstalled,
  type Ramdisk,
  startVm,
} from "../harness/vm.ts";

const ARTIFACTS = decodeURIComponent(new URL("../.out/", import.meta.url).pathname);
/** TCG boots reach the agent in ~30 s on a loaded 2-CPU machine. */
const BOOT_BOUND_MS = 180_000;

/** Boots with `params` until every pattern matches the console (or the bound); returns it. */
async function bootUntil(
  ramdisk: Ramdisk,
  name: string,
  params: Record<string, string | null>,
  patterns: readonly RegExp[],
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ipa-vm-input-" });
  const serialLog = `${ARTIFACTS}ramdisk_boot_${name}_serial.log`;
  await Deno.remove(serialLog).catch(() => {});
  try {
    const disks = await createDiskFiles(dir, 1);
    await using vm = await startVm({ ...ramdisk, disks, serialLog, params });
    const deadline = Date.now() + BOOT_BOUND_MS;
    let text = "";
    while (Date.now() < deadline && !vm.exited) {
      text = await Deno.readTextFile(serialLog);
      if (patterns.every((p) => p.test(text))) return text;
      await sleep(1000);
    }
    text = await Deno.readTextFile(serialLog);
    const missing = patterns.filter((p) => !p.test(text));
    assert.deepEqual(
      missing,
      [],
      `boot "${name}" ${vm.exited ? "ended" : `ran ${BOOT_BOUND_MS} ms`} without showing ` +
        `${missing.join(", ")} on the console:\n${text.slice(-6000)}`,
    );
    return text;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "ramdisk console explains bad kernel parameters and the agent keeps going",
  ignore: Deno.build.os !== "linux" || !(await qemuInstalled()),
  async fn(t) {
    const ramdisk = await ensureRamdisk();
    await Deno.mkdir(ARTIFACTS, { recursive: true });

    await t.step("unreachable ipa-api-url: named on the console, lookup retried", async () => {
      const url = `http://${HOST_FROM_GUEST}:${freePort()}`; // nothing listens there
      const retry = new RegExp(
        `WARN Lookup failed to reach Ironic, retrying .*${url.replaceAll(".", "\\.")}`,
      );
      const text = await bootUntil(ramdisk, "unreachable_api", { "ipa-api-url": url }, [
        // Twice: the agent retries rather than giving up or exiting.
        new RegExp(`(${retry.source}[^]*){2}`),
      ]);
      assert.ok(!/the agent exited with code/.test(text), "the agent kept running");
    });

    await t.step("missing ipa-api-url: named on the console", async () => {
      await bootUntil(ramdisk, "missing_api", {}, [
        /ERROR no Ironic API URL configured \(ipa-api-url\)/,
        /agent API listening/,
      ]);
    });

    await t.step("malformed ipa-listen-port: parameter and value named", async () => {
      await bootUntil(ramdisk, "malformed_port", { "ipa-listen-port": "abc" }, [
        /ERROR Invalid value "abc" for option listen_port \(kernel parameter ipa-listen-port\)/,
        /ipa-ramdisk: the agent exited with code 2; restarting it in 5 s/,
      ]);
    });
  },
});
