/**
 * Actions on the machine the agent runs on: power-off, reboot, flushing caches. With
 * `--protect-host` (tests, `deno task standalone`) they only log what they would do and `sync`:
 * the agent must never power off or reboot a developer's machine or a CI runner.
 */
import { SystemRebootError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "./run.ts";

export interface HostControl {
  readonly protected: boolean;
  /** `poweroff` (or `reboot`), falling back to the sysrq trigger (spec 03 §3.4). */
  shutdown(mode: "poweroff" | "reboot"): Promise<void>;
  /** Sets the hardware clock from the system clock (errors only logged). */
  syncHardwareClock(): Promise<void>;
}

export function createHostControl(
  options: { runner: Runner; log: Logger; protectHost: boolean },
): HostControl {
  const { runner, log, protectHost } = options;
  return {
    protected: protectHost,

    async shutdown(mode) {
      if (protectHost) {
        log.warn(`protect-host: would run "${mode}" now; running "sync" only`);
        await runner.run("sync", [], { timeoutMs: 120_000 });
        return;
      }
      try {
        const result = await runner.run(mode, [], { timeoutMs: 60_000 });
        if (!result.stderr.includes("ignoring request")) return;
        log.warn(`${mode} ignored the request; using the sysrq trigger`);
      } catch (err) {
        log.warn(`${mode} failed; using the sysrq trigger`, { error: err });
      }
      try {
        await runner.run("tee", ["/proc/sysrq-trigger"], {
          input: mode === "reboot" ? "b" : "o",
          timeoutMs: 10_000,
        });
      } catch (err) {
        throw new SystemRebootError(`Could not ${mode} the machine: ${err}`, { cause: err });
      }
    },

    async syncHardwareClock() {
      if (protectHost) {
        log.info('protect-host: would run "hwclock -v --systohc"');
        return;
      }
      try {
        await runner.run("hwclock", ["-v", "--systohc"], { timeoutMs: 30_000 });
      } catch (err) {
        log.warn("could not set the hardware clock", { error: err });
      }
    },
  };
}
