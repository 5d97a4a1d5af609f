/**
 * A partition image that can run GRUB in a chroot (built at test time by `grub_image.sh` from
 * the host's busybox-static and GRUB packages), and a bounded qemu boot of a deployed disk that
 * waits for GRUB's menu on the serial console.
 *
 *   const image = await buildGrubImage(dir, { efi: true });   // image.qcow2, image.uuid
 *   const serial = await bootToGrubMenu({ disk: loop.file, logFile: `${dir}/serial.log` });
 */

import { stopGroup, tool, waitFor } from "./process_util.ts";

const HERE = decodeURIComponent(new URL(".", import.meta.url).pathname);
/** The distributor name in the image's /etc/default/grub: its menu entry's title. */
export const GRUB_MENU_ENTRY = "GrubTest GNU/Linux";
/** The root filesystem's size; the GRUB modules of both platforms take about 25 MiB. */
const ROOT_MIB = 64;

export interface GrubImage {
  /** The raw ext4 image. */
  raw: string;
  qcow2: string;
  /** Its filesystem UUID (what Ironic records as the root UUID). */
  uuid: string;
}

/** Host packages the image is built from; missing ones make the tests skip with this list. */
const NEEDED = [
  "/usr/bin/busybox",
  "/usr/sbin/grub-install",
  "/usr/sbin/grub-mkconfig",
  "/usr/lib/grub/i386-pc",
  "/usr/lib/grub/x86_64-efi",
  "/usr/bin/udevadm",
  "/usr/bin/qemu-system-x86_64",
];

/** The files a GRUB image or boot needs that this host lacks (empty when it can run them). */
export async function missingGrubTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const path of NEEDED) {
    try {
      await Deno.stat(path);
    } catch {
      missing.push(path);
    }
  }
  return missing;
}

/** Builds the image in `dir` (about a second); with `efi`, it ships /boot/efi/EFI loaders. */
export async function buildGrubImage(dir: string, options: { efi: boolean }): Promise<GrubImage> {
  const uuid = crypto.randomUUID();
  const raw = `${dir}/grub-root.img`;
  const args = [`${HERE}grub_image.sh`, raw, uuid, String(ROOT_MIB)];
  if (options.efi) args.push("--efi");
  await tool("bash", args, { timeoutMs: 120_000 });
  const qcow2 = `${dir}/grub-root.qcow2`;
  await tool("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
  return { raw, qcow2, uuid };
}

export interface BootOptions {
  /** The disk image file (a loop device's backing file), attached read-only. */
  disk: string;
  /** Where the guest's serial console goes. */
  logFile: string;
  /** UEFI: OVMF code and a writable copy of its variables; absent = SeaBIOS. */
  ovmf?: { code: string; vars: string };
  /** Bound on the wait; 60 s (TCG, no KVM). */
  timeoutMs?: number;
}

/**
 * Boots `disk` in qemu (TCG) until the serial console shows GRUB's menu with the image's entry,
 * then stops qemu by PID. Resolves to the serial output; throws with it on timeout.
 */
export async function bootToGrubMenu(options: BootOptions): Promise<string> {
  const args = [
    "-accel",
    "tcg",
    "-m",
    "256",
    "-display",
    "none",
    "-monitor",
    "none",
    "-no-reboot",
    "-nodefaults",
    "-serial",
    `file:${options.logFile}`,
    "-drive",
    `file=${options.disk},format=raw,if=virtio,readonly=on`,
  ];
  if (options.ovmf) {
    args.push(
      "-drive",
      `if=pflash,format=raw,unit=0,readonly=on,file=${options.ovmf.code}`,
      "-drive",
      `if=pflash,format=raw,unit=1,file=${options.ovmf.vars}`,
    );
  }
  const child = new Deno.Command("qemu-system-x86_64", {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    detached: true,
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const serial = () => Deno.readTextFile(options.logFile).catch(() => "");
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`qemu exited early: ${await stderr}`);
        const text = await serial();
        return text.includes("GNU GRUB") && text.includes(GRUB_MENU_ENTRY);
      },
      options.timeoutMs ?? 60_000,
      `GRUB's menu on the serial console of ${options.disk}`,
      250,
    );
    return await serial();
  } catch (err) {
    throw new Error(`${(err as Error).message}\nserial console:\n${await serial()}`);
  } finally {
    await stopGroup({ pid: child.pid, status }, { graceMs: 2_000 });
    await stderr.catch(() => "");
  }
}
