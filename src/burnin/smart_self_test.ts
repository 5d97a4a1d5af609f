/**
 * SMART long self-tests after the disk burn-in (`agent_burnin_fio_disk_smart_test`, spec 04
 * §10): start one on every disk, poll each disk's self-test status until none is running, and
 * fail the step naming the disks whose test did not complete without error.
 */
import { CleaningError, reason } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";

/** Seconds between status polls, as IPA waits. */
export const SMART_POLL_SECONDS = 30;
/** A long self-test of a large disk takes hours; two days bounds the wait. */
export const SMART_MAX_POLLS = (2 * 86400) / SMART_POLL_SECONDS;

export interface SmartOptions {
  log: Logger;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  maxPolls?: number;
}

/** smartctl's exit status is a bit mask; bits 3 and up report disk health, not a failed call. */
const ALL_EXIT_CODES = Array.from({ length: 256 }, (_, i) => i);

/**
 * The self-test status text of `smartctl -ja` JSON (`ata_smart_data.self_test.status.string`),
 * or null when the report has none (a disk without SMART, a loop device).
 */
export function parseSelfTestStatus(json: string): string | null {
  try {
    const report = JSON.parse(json);
    const text = report?.ata_smart_data?.self_test?.status?.string;
    return typeof text === "string" ? text : null;
  } catch {
    return null;
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function runSmartSelfTests(
  runner: Runner,
  devices: readonly string[],
  options: SmartOptions,
): Promise<void> {
  const { log } = options;
  const sleep = options.sleep ?? defaultSleep;
  const notStarted: string[] = [];
  for (const device of devices) {
    try {
      log.info("Starting a SMART long self-test", { device });
      await runner.run("smartctl", ["-t", "long", device], { timeoutMs: 60_000 });
    } catch (err) {
      log.error("Could not start a SMART self-test", { device, error: reason(err) });
      notStarted.push(device);
    }
  }
  if (notStarted.length > 0) {
    throw new CleaningError(
      `fio (disk) failed to start SMART self test on ${notStarted.join(", ")}`,
    );
  }

  const failed: string[] = [];
  let running = [...devices];
  for (let poll = 0; running.length > 0; poll++) {
    if (poll >= (options.maxPolls ?? SMART_MAX_POLLS)) {
      throw new CleaningError(
        `fio (disk) SMART self test still running after ${poll} polls on ${running.join(", ")}`,
      );
    }
    if (options.signal?.aborted) {
      throw new CleaningError(`fio (disk) SMART self test wait aborted on ${running.join(", ")}`);
    }
    const stillRunning: string[] = [];
    for (const device of running) {
      let status: string | null = null;
      try {
        const result = await runner.run("smartctl", ["-ja", device], {
          timeoutMs: 60_000,
          okCodes: ALL_EXIT_CODES,
        });
        status = parseSelfTestStatus(result.stdout);
      } catch (err) {
        log.error("Could not read the SMART self-test status", { device, error: reason(err) });
      }
      if (status === null) {
        // As IPA: a disk that reports no self-test status is not waited for.
        log.warn("No SMART self-test status; not waiting for this disk", { device });
      } else if (status.includes("in progress")) {
        stillRunning.push(device);
      } else if (status.includes("completed without error")) {
        log.info("SMART self-test passed", { device });
      } else {
        log.warn("SMART self-test failed", { device, status });
        failed.push(device);
      }
    }
    running = stillRunning;
    if (running.length > 0) {
      log.info("SMART self-tests still running", { devices: running.join(",") });
      await sleep(SMART_POLL_SECONDS * 1000);
    }
  }
  if (failed.length > 0) {
    throw new CleaningError(`fio (disk) SMART test failed for ${failed.join(" ")}`);
  }
}
