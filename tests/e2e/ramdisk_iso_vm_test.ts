/**
 * The ISO of `imagebuild/iso-image-create` boots: the kernel and initramfs of
 * `deno task build-ramdisk` (built first when there is none) wrapped in an ISO with embedded
 * kernel parameters (`-a`), booted in qemu as a CD-ROM (no `-kernel`) under BIOS (SeaBIOS, qemu's
 * default) and under UEFI (OVMF, with a copy of its variable store). The ISO's GRUB
 * (grub-mkrescue: El Torito BIOS image and EFI system partition) starts the kernel; the console
 * must show the embedded parameters and the agent's lookup retries against the embedded
 * `ipa-api-url`, a closed port on the host (the agent keeps retrying, spec 01 §1). Each boot
 * ends as soon as that is seen (bounded); its console stays in tests/.out/.
 *
 *   deno test -A --no-prompt tests/e2e/ramdisk_iso_vm_test.ts
 */
import assert from "node:assert/strict";
import { freePort, printDiagnostics, sleep } from "../harness/process_util.ts";
import {
  ensureRamdisk,
  HOST_FROM_GUEST,
  OVMF_CODE,
  OVMF_VARS,
  qemuInstalled,
  startVm,
} from "../harness/vm.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const ARTIFACTS = `${ROOT}tests/.out/`;
/** Firmware, GRUB's 3 s menu, loading 70 MB from the CD and the boot itself, under TCG. */
const BOOT_BOUND_MS = 300_000;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs iso-image-create (bounded); returns its stdout. */
async function createIso(
  iso: string,
  ramdisk: { kernel: string; initrd: string },
  params: string,
): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [
      `${ROOT}imagebuild/iso-image-create`,
      "-o",
      iso,
      "-i",
      ramdisk.initrd,
      "-k",
      ramdisk.kernel,
      "-a",
      params,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `iso-image-create exited ${out.code}:\n${text}`);
  return text;
}

/**
 * Boots `iso` as the VM's CD-ROM under `firmware` until every pattern matches the serial console
 * (or the bound); returns the console text and the time to the match.
 */
async function bootIsoUntil(
  iso: string,
  firmware: "bios" | "uefi",
  dir: string,
  patterns: readonly RegExp[],
): Promise<{ text: string; ms: number }> {
  const serialLog = `${ARTIFACTS}ramdisk_iso_${firmware}_serial.log`;
  await Deno.remove(serialLog).catch(() => {});
  let uefiVars: string | undefined;
  if (firmware === "uefi") {
    uefiVars = `${dir}/OVMF_VARS.fd`;
    await Deno.copyFile(OVMF_VARS, uefiVars);
  }
  const vm = await startVm({ cdrom: iso, uefiVars, disks: [], serialLog, stopGraceMs: 5_000 });
  const started = vm.startedAt;
  try {
    let text = "";
    while (Date.now() - started < BOOT_BOUND_MS && !vm.exited) {
      text = await Deno.readTextFile(serialLog);
      if (patterns.every((p) => p.test(text))) return { text, ms: Date.now() - started };
      await sleep(1000);
    }
    text = await Deno.readTextFile(serialLog);
    const missing = patterns.filter((p) => !p.test(text));
    assert.deepEqual(
      missing,
      [],
      `${firmware} ISO boot ${vm.exited ? "ended" : `ran ${BOOT_BOUND_MS} ms`} without showing ` +
        `${missing.join(", ")} on the console:\n${text.slice(-6000)}`,
    );
    return { text, ms: Date.now() - started };
  } finally {
    await vm.stop();
  }
}

Deno.test({
  name: "the ISO boots the agent as a CD-ROM under BIOS and UEFI, with embedded parameters",
  ignore: Deno.build.os !== "linux" || !(await qemuInstalled()) ||
    !(await exists(OVMF_CODE)) || !(await exists("/usr/bin/grub-mkrescue")),
  async fn(t) {
    const ramdisk = await ensureRamdisk();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const dir = await Deno.makeTempDir({ prefix: "ipa-iso-" });
    try {
      const url = `http://${HOST_FROM_GUEST}:${freePort()}`; // nothing listens there
      const params = `console=ttyS0,115200 ipa-api-url=${url} ipa-iso-probe=embedded`;
      const iso = `${dir}/ipa-agent.iso`;
      const made = await createIso(iso, ramdisk, params);
      assert.match(made, /ipa-agent\.iso: [\d.]+ MiB/);
      const patterns = [
        // The kernel got the parameters embedded in the ISO's boot menu...
        /ipa-ramdisk: kernel \S+; cmdline: .*ipa-iso-probe=embedded/,
        // ...and the agent started and uses them: lookup against the embedded URL, retried.
        new RegExp(
          `WARN Lookup failed to reach Ironic, retrying .*${url.replaceAll(".", "\\.")}`,
        ),
      ];
      for (const firmware of ["bios", "uefi"] as const) {
        await t.step(`${firmware}: the ISO's GRUB boots the agent`, async () => {
          const { text, ms } = await bootIsoUntil(iso, firmware, dir, patterns);
          assert.ok(!/the agent exited with code/.test(text), "the agent kept running");
          // The kernel says whether firmware handed it EFI tables: only the UEFI boot has them.
          assert.equal(/\befi: EFI v\d/.test(text), firmware === "uefi", `booted by ${firmware}`);
          printDiagnostics(
            `${firmware} ISO boot → agent lookup retry: ${(ms / 1000).toFixed(1)} s`,
          );
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
