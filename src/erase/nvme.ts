/**
 * NVMe secure erase (spec 09 §2.2, and beyond IPA: the Sanitize command).
 *
 * Order of preference, from `nvme id-ctrl -o json`:
 * 1. Sanitize, crypto erase (`sanicap` bit 0), then block erase (bit 1): it covers every
 *    namespace, caches and over-provisioned blocks, which Format NVM need not.
 * 2. Format NVM with crypto erase (`fna` bit 2), else user-data erase (`oacs` bit 1), as IPA.
 * Sanitize runs in the background on the controller, so its log page is polled until done.
 */
import { BlockDeviceEraseError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";

export interface NvmeController {
  oacs: number;
  fna: number;
  sanicap: number;
}

export type NvmeMethod =
  | "nvme_sanitize_crypto"
  | "nvme_sanitize_block"
  | "nvme_format_crypto"
  | "nvme_format_user_data";

export interface NvmeEraseOptions {
  log: Logger;
  signal?: AbortSignal;
  /** Sanitize polling: interval and bound (default 10 s, 24 h). */
  pollMs?: number;
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called once the method is chosen, for progress reports. */
  onMethod?(method: NvmeMethod): void;
}

const FORMAT_TIMEOUT_MS = 2 * 60 * 60 * 1000;

function fail(device: string, what: string, err?: unknown): BlockDeviceEraseError {
  const why = err === undefined ? "" : `: ${err instanceof Error ? err.message : err}`;
  return new BlockDeviceEraseError(`NVMe erase of device ${device} failed: ${what}${why}`);
}

function bits(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : 0;
}

/** Parses `nvme id-ctrl <dev> -o json`; throws when the output is empty or not an object. */
export function parseIdCtrl(device: string, json: string): NvmeController {
  if (json.trim() === "") throw fail(device, "nvme id-ctrl returned nothing");
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw fail(device, "cannot parse nvme id-ctrl output", err);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail(device, `nvme id-ctrl returned ${JSON.stringify(value)}`);
  }
  const ctrl = value as Record<string, unknown>;
  return { oacs: bits(ctrl.oacs), fna: bits(ctrl.fna), sanicap: bits(ctrl.sanicap) };
}

/** The method to use for `ctrl`, or null when it supports none (spec 09 §2.2 step 3). */
export function chooseNvmeMethod(ctrl: NvmeController): NvmeMethod | null {
  if (ctrl.sanicap & 0x1) return "nvme_sanitize_crypto";
  if (ctrl.sanicap & 0x2) return "nvme_sanitize_block";
  if (!(ctrl.oacs & 0x2)) return null;
  return ctrl.fna & 0x4 ? "nvme_format_crypto" : "nvme_format_user_data";
}

/**
 * Sanitize status from `nvme sanitize-log -o json`: nvme-cli 2.x nests the log under the device
 * name and gives `sstat` as an object whose `status` reads "(N) text"; older versions print
 * `sstat` as a number. Returns SSTAT bits 2:0 (1 done, 2 running, 3 failed, 4 done without
 * deallocation) and SPROG (0-65535).
 */
export function parseSanitizeLog(json: string): { status: number; progress: number | null } {
  let root: unknown = JSON.parse(json);
  if (typeof root === "object" && root !== null && !("sstat" in root)) {
    root = Object.values(root).find((v) => typeof v === "object" && v !== null && "sstat" in v);
  }
  if (typeof root !== "object" || root === null) throw new SyntaxError("no sstat in sanitize log");
  const log = root as Record<string, unknown>;
  let status: number | null = null;
  if (typeof log.sstat === "number") status = log.sstat & 0x7;
  else if (typeof log.sstat === "object" && log.sstat !== null) {
    const raw = (log.sstat as Record<string, unknown>).status;
    if (typeof raw === "number") status = raw & 0x7;
    if (typeof raw === "string") status = Number(/^\((\d+)\)/.exec(raw)?.[1] ?? NaN);
  }
  if (status === null || Number.isNaN(status)) {
    throw new SyntaxError(`unreadable sstat ${JSON.stringify(log.sstat)} in sanitize log`);
  }
  return { status, progress: typeof log.sprog === "number" ? log.sprog : null };
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function sanitize(
  runner: Runner,
  device: string,
  action: 2 | 4,
  options: NvmeEraseOptions,
): Promise<void> {
  const run = (args: string[]) =>
    runner.run("nvme", args, { timeoutMs: 120_000, signal: options.signal });
  try {
    await run(["sanitize", device, `--sanact=${action}`]);
  } catch (err) {
    throw fail(device, `nvme sanitize --sanact=${action} was refused`, err);
  }
  const pollMs = options.pollMs ?? 10_000;
  const deadline = Date.now() + (options.maxWaitMs ?? 24 * 60 * 60 * 1000);
  const sleep = options.sleep ?? sleepMs;
  for (;;) {
    let state;
    try {
      state = parseSanitizeLog((await run(["sanitize-log", device, "-o", "json"])).stdout);
    } catch (err) {
      throw fail(device, "cannot read the sanitize log", err);
    }
    if (state.status === 1 || state.status === 4) return;
    if (state.status === 3) throw fail(device, "the controller reports the sanitize failed");
    if (state.status !== 2) {
      throw fail(device, `unexpected sanitize status ${state.status} after starting it`);
    }
    options.log.debug("NVMe sanitize in progress", { device, sprog: state.progress });
    if (Date.now() > deadline) throw fail(device, "sanitize still running at the time limit");
    await sleep(pollMs);
  }
}

/**
 * Securely erases an NVMe namespace. Resolves to the method used; throws
 * `BlockDeviceEraseError` when the controller supports no erase or the erase fails.
 */
export async function nvmeErase(
  runner: Runner,
  device: string,
  options: NvmeEraseOptions,
): Promise<NvmeMethod> {
  let stdout: string;
  try {
    ({ stdout } = await runner.run("nvme", ["id-ctrl", device, "-o", "json"], {
      timeoutMs: 60_000,
      signal: options.signal,
    }));
  } catch (err) {
    throw fail(device, "nvme id-ctrl failed", err);
  }
  const method = chooseNvmeMethod(parseIdCtrl(device, stdout));
  if (method === null) throw fail(device, "nvme-cli did not return any supported format modes");
  options.onMethod?.(method);
  options.log.info("Erasing NVMe device", { device, method });
  if (method === "nvme_sanitize_crypto") await sanitize(runner, device, 4, options);
  else if (method === "nvme_sanitize_block") await sanitize(runner, device, 2, options);
  else {
    const ses = method === "nvme_format_crypto" ? "2" : "1";
    try {
      await runner.run("nvme", ["format", device, "-s", ses, "-f"], {
        timeoutMs: FORMAT_TIMEOUT_MS,
        signal: options.signal,
      });
    } catch (err) {
      throw fail(device, `nvme format -s ${ses} failed`, err);
    }
  }
  return method;
}
