/**
 * `burnin_disk` (spec 04 §10): one `fio` run with a verified read/write job per disk, then, if
 * asked, SMART long self-tests. The disks are the fenced listing (`--only-block-devices`), and
 * every one of them passes `assertMayWrite` before fio starts: a burn-in writes the whole
 * disk, so under `--protect-host` only devices named in `--only-block-devices` are touched.
 */
import { CommandExecutionError, reason } from "../api/errors.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { Logger } from "../log.ts";
import { assertMayWrite, type FenceOptions } from "../system/fence.ts";
import { commandLine, type Runner } from "../system/run.ts";
import type { DiskSettings } from "./settings.ts";
import { runSmartSelfTests, type SmartOptions } from "./smart_self_test.ts";

/** Time fio gets beyond `--runtime` to finish verifying and write its report. */
export const FIO_GRACE_MS = 300_000;
/**
 * Without a runtime fio makes `loops` passes over each disk, which takes as long as the disks
 * are big and slow; the runner still needs a bound, and a week is beyond any sane burn-in.
 */
export const FIO_UNTIMED_LIMIT_MS = 7 * 86_400_000;

/**
 * The fio arguments of IPA's `fio_disk`, plus `--verify_state_save 0`: fio otherwise drops a
 * `local-<disk>-0-verify.state` file into the agent's working directory whenever the runtime
 * ends mid-write, which is only useful to resume with `--verify_state_load` (never done here).
 */
export function fioDiskArgs(settings: DiskSettings, devices: readonly string[]): string[] {
  const args = [
    "--rw",
    "readwrite",
    "--bs",
    "4k",
    "--direct",
    "1",
    "--ioengine",
    "libaio",
    "--iodepth",
    "32",
    "--verify",
    "crc32c",
    "--verify_dump",
    "1",
    "--continue_on_error",
    "verify",
    "--loops",
    String(settings.agent_burnin_fio_disk_loops),
    "--runtime",
    String(settings.agent_burnin_fio_disk_runtime),
    "--time_based",
    "--verify_state_save",
    "0",
  ];
  if (settings.agent_burnin_fio_disk_outputfile) {
    args.push("--output-format", "json", "--output", settings.agent_burnin_fio_disk_outputfile);
  }
  // fio takes a job name that is an existing block device as the job's file.
  for (const device of devices) args.push("--name", device);
  return args;
}

export interface BurninDisksOptions extends Pick<SmartOptions, "sleep"> {
  runner: Runner;
  log: Logger;
  settings: DiskSettings;
  /** The disks to burn in: the dispatcher's `listBlockDevices` (fenced by the listing). */
  listDisks(): Promise<BlockDevice[]>;
  fence: FenceOptions;
  signal?: AbortSignal;
}

/** Runs the disk burn-in over every listed disk; throws before writing if any is refused. */
export async function burninDisks(options: BurninDisksOptions): Promise<void> {
  const { runner, log, settings } = options;
  const devices = (await options.listDisks()).map((d) => d.name);
  if (devices.length === 0) {
    throw new CommandExecutionError("fio (disk) has no block devices to burn in");
  }
  // Every refusal happens before fio touches any disk.
  for (const device of devices) assertMayWrite(options.fence, device, "burn in");

  const args = fioDiskArgs(settings, devices);
  const runtime = settings.agent_burnin_fio_disk_runtime;
  log.info("Starting fio disk burn-in", {
    devices: devices.join(","),
    command: commandLine("fio", args),
  });
  let stdout: string;
  try {
    ({ stdout } = await runner.run("fio", args, {
      timeoutMs: runtime > 0 ? runtime * 1000 + FIO_GRACE_MS : FIO_UNTIMED_LIMIT_MS,
      signal: options.signal,
    }));
  } catch (err) {
    const message = `fio (disk) failed with error ${reason(err)}`;
    log.error(message);
    throw new CommandExecutionError(message, { cause: err });
  }
  // fio reports on stdout (empty when the report goes to the output file).
  log.info("fio disk burn-in finished", { report: stdout.trim() });

  if (settings.agent_burnin_fio_disk_smart_test) {
    await runSmartSelfTests(runner, devices, { log, sleep: options.sleep, signal: options.signal });
  }
}
