/**
 * ATA Security Erase through hdparm (spec 09 §2.3), with IPA's checks: refuse frozen drives,
 * try to unlock a drive left locked by an earlier failed erase, set the temporary password
 * `NULL`, prefer the enhanced erase, and unlock again when the erase fails so the overwrite
 * fallback can still write.
 */
import { BlockDeviceEraseError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { type Runner, ToolError } from "../system/run.ts";

export type AtaMethod = "ata_secure_erase_enhanced" | "ata_secure_erase";

export interface AtaEraseOptions {
  log: Logger;
  signal?: AbortSignal;
  onMethod?(method: AtaMethod): void;
}

/**
 * The lines after `Security: ` that start with a tab, trimmed, tabs turned into spaces
 * (`not<TAB>enabled` → `not enabled`). Empty when the drive has no Security section.
 */
export function parseSecurityLines(hdparmOutput: string): string[] {
  const marker = "\nSecurity: \n";
  const start = hdparmOutput.indexOf(marker);
  if (start < 0) return [];
  const lines: string[] = [];
  for (const line of hdparmOutput.slice(start + marker.length).split("\n")) {
    if (!line.startsWith("\t")) break;
    lines.push(line.trim().replaceAll("\t", " "));
  }
  return lines;
}

/**
 * Minutes hdparm predicts for the erase (`2min for SECURITY ERASE UNIT. 8min for ENHANCED
 * ...`), or null. Drives print `>508min` when the estimate overflows.
 */
export function parseEraseMinutes(lines: readonly string[], enhanced: boolean): number | null {
  const label = enhanced ? "ENHANCED SECURITY ERASE UNIT" : "SECURITY ERASE UNIT";
  for (const line of lines) {
    for (const part of line.split(".")) {
      const match = /^\s*>?(\d+)min for (.+?)\s*$/.exec(part);
      if (match && match[2] === label) return Number(match[1]);
    }
  }
  return null;
}

async function securityLines(runner: Runner, device: string, signal?: AbortSignal) {
  const { stdout } = await runner.run("hdparm", ["-I", device], { timeoutMs: 60_000, signal });
  return parseSecurityLines(stdout);
}

/**
 * `smartctl -d ata <dev> -g security`: false when the drive cannot take ATA security commands
 * (behind a SAS or USB bridge: "Unavailable", or smartctl fails); true when smartctl is not
 * installed, as IPA does.
 */
export async function smartctlAllowsAtaErase(
  runner: Runner,
  device: string,
  log: Logger,
): Promise<boolean> {
  try {
    const { stdout } = await runner.run("smartctl", ["-d", "ata", device, "-g", "security"], {
      timeoutMs: 60_000,
      okCodes: [0, 127],
    });
    return !stdout.includes("Unavailable");
  } catch (err) {
    if (err instanceof ToolError && err.exitCode === null) {
      log.warn("smartctl is not available; not checking ATA security support", { device });
      return true;
    }
    log.info("smartctl refuses ATA security commands for this device", { device, error: err });
    return false;
  }
}

async function tryUnlock(
  runner: Runner,
  device: string,
  lines: string[],
  options: AtaEraseOptions,
): Promise<string[]> {
  // A drive left locked by an interrupted erase carries the password "NULL" (ours) or "".
  for (const password of ["NULL", ""]) {
    if (lines.includes("not locked")) return lines;
    try {
      await runner.run("hdparm", ["--user-master", "u", "--security-unlock", password, device], {
        timeoutMs: 60_000,
        signal: options.signal,
      });
    } catch (err) {
      options.log.info("Unlocking the ATA drive failed", {
        device,
        password_is: password || "empty",
        error: err,
      });
    }
    lines = await securityLines(runner, device, options.signal);
  }
  return lines;
}

function fail(device: string, what: string, err?: unknown): BlockDeviceEraseError {
  const why = err === undefined ? "" : `: ${err instanceof Error ? err.message : err}`;
  return new BlockDeviceEraseError(`ATA secure erase of device ${device} failed: ${what}${why}`);
}

/**
 * Runs ATA Security Erase on `device`. Resolves to the method used, or null when the drive does
 * not support it (the caller then overwrites); throws `BlockDeviceEraseError` when it is
 * supported but cannot be done.
 */
export async function ataErase(
  runner: Runner,
  device: string,
  options: AtaEraseOptions,
): Promise<AtaMethod | null> {
  let lines: string[];
  try {
    lines = await securityLines(runner, device, options.signal);
  } catch (err) {
    // No ATA identify data (virtio, some RAID controllers): no ATA security to use.
    options.log.info("hdparm cannot identify the device; not an ATA erase candidate", {
      device,
      error: err,
    });
    return null;
  }
  if (!lines.includes("supported")) return null;
  if (!(await smartctlAllowsAtaErase(runner, device, options.log))) return null;
  if (!lines.includes("not frozen")) {
    throw new BlockDeviceEraseError(`Block device ${device} is frozen and cannot be erased`);
  }
  lines = await tryUnlock(runner, device, lines, options);
  if (!lines.includes("not locked")) {
    throw new BlockDeviceEraseError(
      `Block device ${device} already has a security password set and cannot be unlocked`,
    );
  }
  if (lines.includes("not enabled")) {
    try {
      await runner.run("hdparm", ["--user-master", "u", "--security-set-pass", "NULL", device], {
        timeoutMs: 60_000,
        signal: options.signal,
      });
    } catch (err) {
      throw fail(device, "setting the temporary security password", err);
    }
  }
  const enhanced = !lines.includes("not supported: enhanced erase");
  const method: AtaMethod = enhanced ? "ata_secure_erase_enhanced" : "ata_secure_erase";
  const option = enhanced ? "--security-erase-enhanced" : "--security-erase";
  // The drive's own estimate, doubled, bounds the wait; 12 h when it gives none.
  const minutes = parseEraseMinutes(lines, enhanced);
  const timeoutMs = minutes === null ? 12 * 60 * 60 * 1000 : Math.max(10, 2 * minutes) * 60_000;
  options.onMethod?.(method);
  options.log.info("Erasing ATA device", { device, method, expected_minutes: minutes });
  try {
    await runner.run("hdparm", ["--user-master", "u", option, "NULL", device], {
      timeoutMs,
      signal: options.signal,
    });
  } catch (err) {
    // Leave the drive unlocked, so the overwrite fallback can still write to it.
    await tryUnlock(runner, device, await securityLines(runner, device), options).catch(
      (unlockErr) =>
        options.log.warn("Unlocking after the failed erase failed", { device, error: unlockErr }),
    );
    throw fail(device, `hdparm ${option}`, err);
  }
  lines = await securityLines(runner, device, options.signal);
  if (!lines.includes("not enabled")) {
    throw new BlockDeviceEraseError(
      `An unknown error occurred erasing block device ${device}: security is still enabled ` +
        "after the erase",
    );
  }
  return method;
}
