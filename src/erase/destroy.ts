/**
 * `destroy_disk_metadata` (spec 09 §3.2): removes signatures and partition tables from one
 * device without zeroing the whole of it, then waits until no process holds the device.
 */
import { BlockDeviceError, DeploymentError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { type Runner, ToolError } from "../system/run.ts";

/** How long to wait for the device to be released (`[disk_partitioner]check_device_*`). */
export interface BusyWait {
  attempts: number;
  intervalMs: number;
}

export const DEFAULT_BUSY_WAIT: BusyWait = { attempts: 20, intervalMs: 1000 };

export interface DestroyOptions {
  log: Logger;
  busyWait?: BusyWait;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
}

/** Primary GPT area in sectors: LBA 0-32 for 512-byte sectors, 0-4 for 4096-byte sectors. */
export function gptSectors(sectorSize: number): number {
  if (sectorSize === 512) return 33;
  if (sectorSize === 4096) return 5;
  return Math.ceil(17408 / sectorSize); // IPA leaves other sizes undefined: cover 34 x 512 B
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readNumber(runner: Runner, device: string, flag: string): Promise<number> {
  const { stdout } = await runner.run("blockdev", [flag, device], { timeoutMs: 30_000 });
  const value = Number(stdout.trim());
  if (!/^\d+$/.test(stdout.trim()) || value <= 0) {
    throw new BlockDeviceError(
      `blockdev ${flag} returned ${JSON.stringify(stdout.trim())} for device "${device}"`,
    );
  }
  return value;
}

async function wipeSignatures(runner: Runner, device: string): Promise<void> {
  try {
    await runner.run("wipefs", ["--force", "--all", device]);
  } catch (err) {
    // Very old wipefs has no --force; anything else is a real failure.
    if (!(err instanceof ToolError) || !err.stderr.includes("--force")) throw err;
    await runner.run("wipefs", ["--all", device]);
  }
}

/** Polls `fuser` until nothing holds `device` (udev, blkid and friends let go quickly). */
export async function waitForDeviceRelease(
  runner: Runner,
  device: string,
  options: DestroyOptions,
): Promise<void> {
  const { attempts, intervalMs } = options.busyWait ?? DEFAULT_BUSY_WAIT;
  const sleep = options.sleep ?? sleepMs;
  let problem = "";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      // psmisc and busybox fuser print only PIDs on stdout. stderr is not a signal: psmisc
      // writes the device name there, and "Cannot stat file /proc/<pid>/fd/..." for processes
      // it may not inspect (seen as root in sandboxes), so IPA's "no stderr" test never passes.
      const result = await runner.run("fuser", [device], { okCodes: [0, 1], timeoutMs: 30_000 });
      const pids = result.stdout.match(/\d+/g) ?? [];
      if (pids.length === 0) return;
      problem = `processes ${pids.join(", ")} are holding it`;
    } catch (err) {
      problem = `fuser failed: ${err instanceof Error ? err.message : err}`;
      options.log.warn("Cannot check whether a device is in use", { device, error: err });
    }
    if (attempt < attempts) await sleep(intervalMs);
  }
  throw new DeploymentError(
    `Destroying metadata failed on device ${device}: ${problem} after ${attempts} checks`,
  );
}

/** Wipes signatures, both GPT areas and the MBR of `device`, then waits for it to be free. */
export async function destroyDiskMetadata(
  runner: Runner,
  device: string,
  options: DestroyOptions,
): Promise<void> {
  await wipeSignatures(runner, device);
  // sgdisk refuses tables with a bad CRC, so the GPT areas are zeroed with dd first.
  const sector = await readNumber(runner, device, "--getss");
  const size = await readNumber(runner, device, "--getsize64");
  const gpt = gptSectors(sector);
  const totalSectors = Math.floor(size / sector);
  const bs = `bs=${sector}`;
  const of = `of=${device}`;
  const startCount = size < gpt * sector ? totalSectors : gpt;
  await runner.run("dd", [bs, "if=/dev/zero", of, `count=${startCount}`, "oflag=direct"]);
  if (size > gpt * sector) {
    await runner.run("dd", [
      bs,
      "if=/dev/zero",
      of,
      `count=${gpt}`,
      "oflag=direct",
      `seek=${totalSectors - gpt}`,
    ]);
  }
  await runner.run("sgdisk", ["-Z", device]);
  await waitForDeviceRelease(runner, device, options);
  options.log.info("Disk metadata destroyed", { device });
}
