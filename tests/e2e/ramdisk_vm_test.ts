/**
 * Boots the ramdisk of `deno task build-ramdisk` (built first when imagebuild/out has none) in
 * qemu-system-x86_64 with two sparse virtio disks and user-mode networking, and checks from the
 * host, through a hostfwd port: the guest got a DHCP lease, the agent answers /v1/status, sees
 * both disks, and `standby.power_off` really powers the VM off (no --protect-host in the image).
 * The serial console log stays in tests/.out/ as an artifact.
 *
 * KVM when /dev/kvm exists and the CPU exposes vmx/svm; otherwise TCG (slow: minutes of CPU).
 * The flow driven by a real Ironic (clean, deploy, active) is ramdisk_ironic_vm_test.ts.
 */
import assert from "node:assert/strict";
import { freePort } from "../harness/process_util.ts";
import { ensureRamdisk, kvmUsable, qemuInstalled } from "../harness/vm.ts";

const ARTIFACTS = decodeURIComponent(new URL("../.out", import.meta.url).pathname);
const BOOT_BOUND_MS = 240_000;
const POWEROFF_BOUND_MS = 120_000;

Deno.test({
  name: "ramdisk boots in a VM: DHCP, agent API through hostfwd, real power-off",
  ignore: !(await qemuInstalled()),
  async fn() {
    const { kernel, initrd } = await ensureRamdisk();
    const dir = await Deno.makeTempDir({ prefix: "ipa-vm-" });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const serial = `${ARTIFACTS}/ramdisk_vm_serial.log`;
    const port = freePort();
    const token = crypto.randomUUID().replaceAll("-", "");
    const disks = [`${dir}/disk1.img`, `${dir}/disk2.img`];
    for (const disk of disks) {
      using file = await Deno.open(disk, { create: true, write: true });
      await file.truncate(8 * 1024 ** 3); // sparse: the agent wants a disk of at least 4 GiB
    }
    const accel = await kvmUsable() ? "kvm" : "tcg";
    const started = performance.now();
    const qemu = new Deno.Command("qemu-system-x86_64", {
      args: [
        "-accel",
        accel,
        "-m",
        "1536",
        "-smp",
        "2",
        "-kernel",
        kernel,
        "-initrd",
        initrd,
        "-append",
        `console=ttyS0 ipa-standalone=1 ipa-debug=1 ipa-agent-token=${token}`,
        "-display",
        "none",
        "-serial",
        `file:${serial}`,
        "-no-reboot",
        "-netdev",
        `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:9999`,
        "-device",
        "virtio-net-pci,netdev=n0",
        ...disks.flatMap((d) => ["-drive", `file=${d},if=virtio,format=raw`]),
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const exited = qemu.output();
    let running = true;
    void exited.then(() => running = false);
    try {
      const url = `http://127.0.0.1:${port}`;
      let status: Record<string, unknown> | null = null;
      while (status === null && running && performance.now() - started < BOOT_BOUND_MS) {
        try {
          const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(3000) });
          if (res.ok) status = await res.json();
          else await res.body?.cancel();
        } catch {
          // slirp accepts before the guest listens; retry.
        }
        if (status === null) await new Promise((r) => setTimeout(r, 1000));
      }
      const bootMs = performance.now() - started;
      let serialText = await Deno.readTextFile(serial);
      assert.ok(status, `agent did not answer within ${BOOT_BOUND_MS} ms; serial:\n${serialText}`);
      assert.equal(status.version, "1.0.0");
      assert.match(
        serialText,
        /ipa-ramdisk: DHCP bound on eth0: 10\.0\.2\.15\/24 router 10\.0\.2\.2/,
      );
      // The kernel itself prints its command line (unless `quiet`); init and agent must not.
      const userspace = serialText.split("\n").filter((l) => !/^\[\s*\d+\.\d+\]/.test(l));
      assert.ok(
        !userspace.some((l) => l.includes(token)),
        "init and agent must not print the agent token",
      );

      // The agent (debug log) enumerated both virtio disks through udev.
      assert.match(serialText, /--name=\/dev\/vda --name=\/dev\/vdb/);
      const off = await fetch(`${url}/v1/commands/?wait=true&agent_token=${token}`, {
        method: "POST",
        body: JSON.stringify({ name: "standby.power_off", params: {} }),
      });
      assert.ok(off.status < 500, `standby.power_off answered ${off.status}`);
      await off.body?.cancel();
      const offBy = performance.now() + POWEROFF_BOUND_MS;
      while (running && performance.now() < offBy) await new Promise((r) => setTimeout(r, 500));
      serialText = await Deno.readTextFile(serial);
      assert.ok(
        !running,
        `the VM did not power off within ${POWEROFF_BOUND_MS} ms:\n${serialText}`,
      );
      const result = await exited;
      assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
      assert.match(serialText, /ipa-ramdisk: shutting down/);
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `ramdisk VM (${accel}): /v1/status after ${(bootMs / 1000).toFixed(1)} s; ` +
            `serial log ${serial}\n`,
        ),
      );
    } finally {
      if (running) {
        try {
          Deno.kill(qemu.pid, "SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
      await exited;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
