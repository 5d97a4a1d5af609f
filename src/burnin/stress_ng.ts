/**
 * `burnin_cpu` and `burnin_memory` (spec 04 §10): Debian's `stress-ng` with the cpu or vm
 * stressor for the configured time. stress-ng stops itself at `--timeout`; the runner's own
 * timeout is that plus a grace period, so a stress-ng that hangs while tearing down its workers
 * (a vm stressor on 98 % of memory can take a while) is still killed.
 */
import { CommandExecutionError, reason } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { commandLine, type Runner } from "../system/run.ts";
import type { CpuSettings, MemorySettings } from "./settings.ts";

/** Time stress-ng gets beyond `--timeout` to reap its workers and print its metrics. */
export const STRESS_NG_GRACE_MS = 120_000;

export interface StressNgCommand {
  stressor: "cpu" | "vm";
  args: string[];
  timeoutSeconds: number;
}

/** `stress-ng --cpu <count> --timeout <t> --metrics-brief [--log-file <file>]`. */
export function stressNgCpu(settings: CpuSettings): StressNgCommand {
  const args = [
    "--cpu",
    String(settings.agent_burnin_cpu_cpu),
    "--timeout",
    settings.agent_burnin_cpu_timeout.text,
    "--metrics-brief",
  ];
  if (settings.agent_burnin_cpu_outputfile) {
    args.push("--log-file", settings.agent_burnin_cpu_outputfile);
  }
  return { stressor: "cpu", args, timeoutSeconds: settings.agent_burnin_cpu_timeout.seconds };
}

/** `stress-ng --vm <count> --timeout <t> --vm-bytes <bytes> --metrics-brief [--log-file ..]`. */
export function stressNgMemory(settings: MemorySettings): StressNgCommand {
  const args = [
    "--vm",
    String(settings.agent_burnin_vm_vm),
    "--timeout",
    settings.agent_burnin_vm_timeout.text,
    "--vm-bytes",
    settings["agent_burnin_vm_vm-bytes"],
    "--metrics-brief",
  ];
  if (settings.agent_burnin_vm_outputfile) {
    args.push("--log-file", settings.agent_burnin_vm_outputfile);
  }
  return { stressor: "vm", args, timeoutSeconds: settings.agent_burnin_vm_timeout.seconds };
}

/** Runs the stress-ng command; a failure becomes `CommandExecutionError` naming the stressor. */
export async function runStressNg(
  runner: Runner,
  command: StressNgCommand,
  options: { log: Logger; signal?: AbortSignal },
): Promise<void> {
  const { log } = options;
  log.info("Starting stress-ng burn-in", {
    stressor: command.stressor,
    command: commandLine("stress-ng", command.args),
    seconds: command.timeoutSeconds,
  });
  let stderr: string;
  try {
    ({ stderr } = await runner.run("stress-ng", command.args, {
      timeoutMs: command.timeoutSeconds * 1000 + STRESS_NG_GRACE_MS,
      signal: options.signal,
    }));
  } catch (err) {
    const message = `stress-ng (${command.stressor}) failed with error ${reason(err)}`;
    log.error(message);
    throw new CommandExecutionError(message, { cause: err });
  }
  // stress-ng reports its metrics on stderr only.
  log.info("stress-ng burn-in finished", { stressor: command.stressor, report: stderr.trim() });
}
