/**
 * The ramdisk of `deno task build-ramdisk` booted in qemu-system-x86_64: the machine behind a
 * node, for the VM tests and the bench. One VM run is one "boot": a qemu process in its own
 * process group (stopped by PID, like the harness's agents), two virtio disks backed by files
 * that persist across boots, user-mode networking (slirp) where the guest reaches the host's
 * 127.0.0.1 as 10.0.2.2 and the host reaches the agent through a `hostfwd` port.
 *
 *   const vm = await startVm({ kernel, initrd, disks, serialLog, params: { "ipa-api-url": url } });
 *   await vm.status; // resolves when the guest powers off (or the VM is stopped)
 *
 * `vmStarter()` adapts it to the power watcher's `start` option, so the watcher's rules decide
 * when the machine boots, and a guest that powers itself off is a machine that powered off.
 */

import { type AgentOptions, type AgentProcess, agentProcess } from "./agent_process.ts";
import { freePort, spawnGroup, stopGroup } from "./process_util.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
/** Where `deno task build-ramdisk` writes its outputs (the same IPA_RAMDISK_OUT it honours). */
export const RAMDISK_OUT = Deno.env.get("IPA_RAMDISK_OUT") || `${ROOT}imagebuild/out`;
/** The port the agent listens on inside the guest (`ipa-listen-port`, the hostfwd target). */
export const GUEST_AGENT_PORT = 9999;
/** The guest's NIC; a port with this MAC lets Ironic's lookup find the node. */
export const VM_MAC = "52:54:00:12:34:56";
/** The host's 127.0.0.1 as the guest sees it (slirp). */
export const HOST_FROM_GUEST = "10.0.2.2";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether qemu-system-x86_64 is installed (the VM tests are skipped without it). */
export function qemuInstalled(): Promise<boolean> {
  return exists("/usr/bin/qemu-system-x86_64");
}

/**
 * KVM only where guests can run: the device and hardware virtualisation in the CPU. On these
 * machines /dev/kvm exists but the CPU exposes no vmx/svm, and KVM guests hang.
 */
export async function kvmUsable(): Promise<boolean> {
  if (!await exists("/dev/kvm")) return false;
  const cpuinfo = await new Deno.Command("grep", {
    args: ["-m1", "-wE", "vmx|svm", "/proc/cpuinfo"],
    stdout: "null",
  }).output();
  return cpuinfo.success;
}

export interface Ramdisk {
  kernel: string;
  initrd: string;
}

/** The built kernel and initramfs, or null when `deno task build-ramdisk` has not run. */
export async function builtRamdisk(out = RAMDISK_OUT): Promise<Ramdisk | null> {
  const ramdisk = { kernel: `${out}/ipa-agent.kernel`, initrd: `${out}/ipa-agent.initramfs` };
  return await exists(ramdisk.kernel) && await exists(ramdisk.initrd) ? ramdisk : null;
}

/** The built ramdisk; builds it first (bounded: 15 minutes) when there is none. */
export async function ensureRamdisk(): Promise<Ramdisk> {
  const built = await builtRamdisk();
  if (built) return built;
  const build = await new Deno.Command("bash", {
    args: [`${ROOT}imagebuild/build-ramdisk`],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(15 * 60_000),
  }).output();
  if (!build.success) {
    throw new Error(
      `Cannot build the ramdisk: build-ramdisk exited ${build.code}:\n` +
        new TextDecoder().decode(build.stderr).slice(-4000),
    );
  }
  const ramdisk = await builtRamdisk();
  if (!ramdisk) throw new Error(`build-ramdisk succeeded but left no ramdisk in ${RAMDISK_OUT}`);
  return ramdisk;
}

/** Creates sparse disk files (the agent, like IPA, only picks hint-less disks of ≥ 4 GiB). */
export async function createDiskFiles(dir: string, count: number, sizeGiB = 8): Promise<string[]> {
  const disks = [];
  for (let i = 1; i <= count; i++) {
    const path = `${dir}/disk${i}.img`;
    using file = await Deno.open(path, { create: true, write: true, truncate: true });
    await file.truncate(sizeGiB * 1024 ** 3);
    disks.push(path);
  }
  return disks;
}

/** How the VM boots: the ramdisk directly (`-kernel`), or a CD-ROM image through the firmware. */
export type VmBoot = Ramdisk | {
  /** Booted as the CD-ROM; the kernel command line is the ISO's own (`params` do not apply). */
  cdrom: string;
  /** A writable copy of OVMF's variable store: boot under OVMF (UEFI) instead of SeaBIOS. */
  uefiVars?: string;
};

/** What every VM gets, however it boots. */
export interface VmSettings {
  /** Disk image files, attached as virtio disks in order (/dev/vda, /dev/vdb, ...). */
  disks: readonly string[];
  /** The serial console and qemu's own messages are appended here. The caller owns the file. */
  serialLog: string;
  /**
   * Kernel parameters after `console=ttyS0`, in order; a `null` value gives a bare word. The
   * agent's `ipa-listen-port` and `ipa-advertise-port` are set here unless given.
   */
  params?: Readonly<Record<string, string | null>>;
  /** Guest memory; 1536 MiB (the initramfs unpacks to ~190 MiB, images stream through). */
  memoryMiB?: number;
  /** SIGTERM-to-SIGKILL bound when stopping; 10 s (qemu flushes the disks on SIGTERM). */
  stopGraceMs?: number;
}

export type VmOptions = VmBoot & VmSettings;

/** OVMF's code, with the variable store template a UEFI VM gets a copy of (`uefiVars`). */
export const OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd";
export const OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd";

function bootArgs(boot: VmBoot, params: Readonly<Record<string, string | null>>): string[] {
  if (!("cdrom" in boot)) {
    return ["-kernel", boot.kernel, "-initrd", boot.initrd, "-append", kernelCommandLine(params)];
  }
  const firmware = boot.uefiVars
    ? [
      "-drive",
      `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
      "-drive",
      `if=pflash,format=raw,unit=1,file=${boot.uefiVars}`,
    ]
    : [];
  return ["-machine", "q35", ...firmware, "-cdrom", boot.cdrom, "-boot", "d"];
}

/**
 * A running VM; shaped as an `AgentProcess` so the power watcher can run it as the machine.
 * `port`/`url` are the host end of the hostfwd to the agent; `stateDir` is empty (the machine's
 * state is on its disks); `stop()` is a hard power-off (SIGTERM: qemu flushes the disk files).
 */
export interface VmProcess extends AgentProcess {
  /** `Date.now()` when qemu was spawned. */
  readonly startedAt: number;
  /** Whether qemu runs under KVM ("kvm") or emulation ("tcg"). */
  readonly accel: "kvm" | "tcg";
}

/** The `-append` string: the serial console first, then `params` in order. */
export function kernelCommandLine(params: Readonly<Record<string, string | null>>): string {
  const words = ["console=ttyS0"];
  for (const [key, value] of Object.entries(params)) {
    if (/\s/.test(key) || (value !== null && /\s/.test(value))) {
      throw new RangeError(
        `Cannot put kernel parameter ${JSON.stringify(key)}=${JSON.stringify(value)} on the ` +
          "command line: it contains whitespace",
      );
    }
    words.push(value === null ? key : `${key}=${value}`);
  }
  return words.join(" ");
}

/** Boots the VM; returns once qemu is spawned. */
export async function startVm(options: VmOptions): Promise<VmProcess> {
  const accel: VmProcess["accel"] = await kvmUsable() ? "kvm" : "tcg";
  const port = freePort();
  const params = {
    "ipa-listen-port": String(GUEST_AGENT_PORT),
    "ipa-advertise-port": String(port),
    ...options.params,
  };
  const args = [
    "-accel",
    accel,
    "-m",
    String(options.memoryMiB ?? 1536),
    "-smp",
    "2",
    ...bootArgs(options, params),
    "-display",
    "none",
    "-monitor",
    "none",
    "-chardev",
    `file,id=console,path=${options.serialLog},append=on`,
    "-serial",
    "chardev:console",
    // A guest "reboot" ends the process too: the power watcher decides what boots next.
    "-no-reboot",
    "-netdev",
    // Always to GUEST_AGENT_PORT, so a test may pass a malformed ipa-listen-port.
    `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:${GUEST_AGENT_PORT}`,
    "-device",
    `virtio-net-pci,netdev=n0,mac=${VM_MAC}`,
    // A hardware RNG, as servers have (RDRAND, TPM): without one, the emulated CPU leaves the
    // kernel's CRNG uninitialised for seconds and getrandom() blocks Deno's start-up meanwhile.
    "-device",
    "virtio-rng-pci",
    ...options.disks.flatMap((d) => ["-drive", `file=${d},if=virtio,format=raw`]),
  ];
  await Deno.writeTextFile(
    options.serialLog,
    `# ${new Date().toISOString()} qemu-system-x86_64 ${args.join(" ")}\n`,
    { append: true },
  );
  const child = spawnGroup(["qemu-system-x86_64", ...args], { logFile: options.serialLog });
  return agentProcess(
    {
      pid: child.pid,
      port,
      url: `http://127.0.0.1:${port}`,
      logFile: options.serialLog,
      stateDir: "",
      args,
      status: child.status,
      startedAt: Date.now(),
      accel,
    },
    () => child.exited,
    () => stopGroup(child, { graceMs: options.stopGraceMs ?? 10_000 }),
  );
}

/**
 * A power watcher `start` function that boots the VM: each boot's serial log is the watcher's
 * per-boot `logFile`, and the agent is pointed at `options.apiUrl` (as the guest reaches it).
 * Every VM started is also pushed to `started`, with its start time.
 */
export function vmStarter(
  vm: Ramdisk & Omit<VmSettings, "serialLog">,
  started: VmProcess[] = [],
): (options: AgentOptions) => Promise<AgentProcess> {
  return async (options) => {
    const process = await startVm({
      ...vm,
      serialLog: options.logFile,
      params: { "ipa-api-url": options.apiUrl, ...vm.params },
    });
    started.push(process);
    return process;
  };
}
