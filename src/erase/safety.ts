/**
 * The shared-filesystem guard (spec 09 §5): refuse to wipe a device holding a clustered or
 * shared-disk filesystem (GPFS, VMFS, GFS2). Other machines may be using that volume at the
 * same time, so wiping it can take down a whole cluster.
 *
 * Unlike IPA this compares case-insensitively (lsblk prints GUIDs in lower case, so IPA's
 * test never fires), requests FSTYPE (so gfs2 is seen), and checks what is stacked on the
 * device too: wiping a disk's partition table also cuts off a protected partition on it.
 */
import { ProtectedDeviceError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import type { Runner } from "../system/run.ts";
import { type ProbedEntry, probeDevice } from "./probe.ts";

/** Partition type GUIDs / MBR types and filesystem UUIDs that mark a shared volume. */
export const GUARDED_IDS: Readonly<Record<string, string>> = {
  "37affc90-ef7d-4e96-91c3-2d7ae055b174": "IBM GPFS Partition",
  "aa31e02a-400f-11db-9590-000c2911d1b8": "VMware VMFS Partition (GPT)",
  "0xfb": "VMware VMFS Partition (MBR)",
};

export const GUARDED_FS_TYPES: Readonly<Record<string, string>> = {
  gfs2: "Red Hat Global File System 2",
};

/**
 * Whether the guard applies: the agent option `guard-special-filesystems` and the node's
 * `driver_internal_info.wipe_special_filesystems` (only an explicit `false` disables it).
 */
export function guardEnabled(
  node: Node | null | undefined,
  guardSpecialFilesystems: boolean,
): boolean {
  return guardSpecialFilesystems && node?.driver_internal_info?.wipe_special_filesystems !== false;
}

function protectedError(what: string, found: string, device: string): ProtectedDeviceError {
  const where = found === device ? device : `${found} (on ${device})`;
  return new ProtectedDeviceError(
    `Protected ${what} located on device ${where}. This volume or contents may be a shared ` +
      "block device. Please consult your storage administrator, and restart cleaning after " +
      "either detaching the volumes, or instructing IPA to not protect contents. See Ironic " +
      "Python Agent documentation for more information.",
  );
}

/** Throws `ProtectedDeviceError` if `device` or anything on it carries a guarded identifier. */
export function checkProbedDevice(device: string, entries: readonly ProbedEntry[]): void {
  for (const entry of entries) {
    for (const id of entry.ids) {
      const what = GUARDED_IDS[id];
      if (what) throw protectedError(what, entry.name, device);
    }
    for (const fsType of entry.fsTypes) {
      const what = GUARDED_FS_TYPES[fsType];
      if (what) throw protectedError(what, entry.name, device);
    }
  }
}

export interface SafetyCheckOptions {
  node: Node | null;
  guardSpecialFilesystems: boolean;
}

/** `safety_check_block_device`: probes `device` and refuses protected contents (spec 09 §5). */
export async function safetyCheckBlockDevice(
  runner: Runner,
  device: string,
  options: SafetyCheckOptions,
): Promise<void> {
  if (!guardEnabled(options.node, options.guardSpecialFilesystems)) return;
  checkProbedDevice(device, await probeDevice(runner, device));
}
