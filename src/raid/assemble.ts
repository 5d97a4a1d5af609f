/**
 * Start-up assembly of software RAID (IPA's `_md_scan_and_assemble`, run by the generic
 * manager's `initialize()`): arrays whose members are present are started before the agent
 * lists disks, so inventory, install-device selection and the skip list see `/dev/md<N>`.
 *
 * Never fatal: "no arrays found" (mdadm exits non-zero) and a ramdisk without mdadm are logged.
 * With `--protect-host` or `--only-block-devices` nothing is assembled: `--assemble --scan`
 * would start (and update the superblocks of) arrays on disks that are not the agent's.
 */
import type { Logger } from "../log.ts";
import type { FenceOptions } from "../system/fence.ts";
import { type Runner, ToolError } from "../system/run.ts";

export type AssembleOutcome = "assembled" | "none" | "no-mdadm" | "fenced";

export async function assembleArrays(
  runner: Runner,
  options: { log: Logger; fence: FenceOptions },
): Promise<AssembleOutcome> {
  const { log, fence } = options;
  if (fence.protectHost || fence.onlyBlockDevices.length > 0) {
    log.info("Not assembling software RAID at start-up: the agent is fenced to named devices", {
      protect_host: fence.protectHost,
    });
    return "fenced";
  }
  try {
    const result = await runner.run("mdadm", ["--assemble", "--scan", "--verbose"], {
      timeoutMs: 300_000,
    });
    log.info("Software RAID arrays assembled during start-up", {
      output: (result.stderr + result.stdout).trim().slice(0, 2000),
    });
    return "assembled";
  } catch (err) {
    if (err instanceof ToolError && err.exitCode === null && !/timed out/.test(err.message)) {
      log.warn("mdadm could not be run; software RAID devices will not be supported", {
        error: err.message,
      });
      return "no-mdadm";
    }
    log.info("No new software RAID devices assembled during start-up", {
      error: err instanceof Error ? err.message : String(err),
    });
    return "none";
  }
}
