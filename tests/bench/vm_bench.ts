/**
 * Ramdisk rows of `deno task bench` (issue #9): the image of `deno task build-ramdisk` in a VM as
 * the machine of a real Ironic 21.4 node (`tests/harness/vm_flow.ts`: cleaning, then a deploy to
 * `active`), each figure next to a baseline measured in the same run:
 *
 *   start → heartbeat   qemu spawned → the conductor records the agent's first heartbeat, per
 *                       boot; baseline: qemu spawned → the same kernel and initramfs reach
 *                       userspace and power off at once (`rdinit=/usr/sbin/poweroff -- -f`), i.e.
 *                       what kernel boot and initramfs unpacking cost before init and agent
 *   deploy → active     `deploy` requested → `active`; baseline: the deploy boot's own
 *                       start → first heartbeat, the part of it that is booting the ramdisk
 *
 * Skipped, with the reason in the table, when the ramdisk is not built (no build here: it takes
 * minutes and downloads packages), qemu is missing or the bench does not run as root.
 */
import { printDiagnostics } from "../harness/process_util.ts";
import { builtRamdisk, kvmUsable, qemuInstalled, type Ramdisk, startVm } from "../harness/vm.ts";
import { runVmDeployFlow } from "../harness/vm_flow.ts";

export interface VmRow {
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
}

const BOUND_MS = 180_000;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Why the VM rows cannot run here, or null. */
export async function vmBenchSkipReason(): Promise<string | null> {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return "needs Linux and root (Ironic, apt)";
  if (!await qemuInstalled()) return "qemu-system-x86_64 is not installed";
  if (!await builtRamdisk()) return "no ramdisk in imagebuild/out (run `deno task build-ramdisk`)";
  return null;
}

/** qemu spawned → the guest's first process ran and powered the VM off (ms). */
async function kernelToUserspaceMs(ramdisk: Ramdisk, dir: string): Promise<number> {
  const vm = await startVm({
    ...ramdisk,
    disks: [],
    serialLog: `${dir}/baseline-serial.log`,
    params: { rdinit: "/usr/sbin/poweroff", "--": null, "-f": null },
  });
  const timer = setTimeout(() => vm.stop(), BOUND_MS);
  const status = await vm.status;
  clearTimeout(timer);
  if (status.code !== 0) {
    throw new Error(
      `Cannot measure the boot baseline: qemu exited ${status.code}${
        status.signal ? ` (${status.signal})` : ""
      }; see ${dir}/baseline-serial.log`,
    );
  }
  return Date.now() - vm.startedAt;
}

export async function benchRamdiskVm(): Promise<VmRow[]> {
  const accel = await kvmUsable() ? "kvm" : "tcg";
  const skip = await vmBenchSkipReason();
  if (skip) {
    printDiagnostics(`ramdisk VM rows skipped: ${skip}`);
    return [{
      metric: `ramdisk VM (${accel})`,
      value: `skipped: ${skip}`,
      baseline: "",
      ratio: "",
    }];
  }
  const ramdisk = (await builtRamdisk())!;
  const dir = await Deno.makeTempDir({ prefix: "bench-vm-" });
  try {
    const boot = await kernelToUserspaceMs(ramdisk, dir);
    await using flow = await runVmDeployFlow({ ramdisk, logDir: dir });
    const beats = flow.boots.map((b) => b.firstHeartbeatMs);
    if (beats.some((b) => b === null)) throw new Error("a VM boot never heartbeated");
    const [clean, deploy] = beats as number[];
    return [
      {
        metric: `ramdisk VM (${accel}): start → first heartbeat, cleaning boot`,
        value: seconds(clean!),
        baseline: `${seconds(boot)} (kernel → userspace)`,
        ratio: (clean! / boot).toFixed(2),
      },
      {
        metric: `ramdisk VM (${accel}): start → first heartbeat, deploy boot`,
        value: seconds(deploy!),
        baseline: `${seconds(boot)} (kernel → userspace)`,
        ratio: (deploy! / boot).toFixed(2),
      },
      {
        metric: `ramdisk VM (${accel}): deploy → active (Ironic 21.4)`,
        value: seconds(flow.timings.deployMs),
        baseline: `${seconds(deploy!)} (its boot → heartbeat)`,
        ratio: (flow.timings.deployMs / deploy!).toFixed(2),
      },
      {
        metric: `ramdisk VM (${accel}): provide → available (cleaning)`,
        value: seconds(flow.timings.cleanMs),
        baseline: `${seconds(clean!)} (its boot → heartbeat)`,
        ratio: (flow.timings.cleanMs / clean!).toFixed(2),
      },
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  for (const row of await benchRamdiskVm()) {
    printDiagnostics(`${row.metric}: ${row.value} | ${row.baseline} | ${row.ratio}`);
  }
}
