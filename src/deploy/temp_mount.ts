/**
 * A partition mounted on a fresh temporary directory for the length of one callback (IPA
 * `utils.mounted`): `mount`, the callback, then `umount` (3 attempts) and removal of the
 * directory, in `finally`. The tenant's file system is mounted `nosuid,nodev,noexec` (the agent
 * never runs anything from it) and `ro` when it is only looked at.
 *
 * A failed unmount is an error, unlike IPA's warning: a file system left mounted read-write
 * when the conductor powers the node off may lose what was just written. The directory is then
 * left in place rather than removed through the mount.
 */
import { CommandExecutionError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";

const MOUNT_TIMEOUT_MS = 2 * 60 * 1000;

export interface TempMountOptions {
  log: Logger;
  readOnly?: boolean;
  /** `umount` tries (IPA: 3) and the pause between them. */
  umountAttempts?: number;
  retryDelayMs?: number;
  /** Injected for tests. */
  makeTempDir?: () => Promise<string>;
}

/** The file system could not be unmounted; it is still mounted on `mountpoint`. */
export class UnmountError extends CommandExecutionError {}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function unmount(runner: Runner, dir: string, options: TempMountOptions): Promise<void> {
  const attempts = options.umountAttempts ?? 3;
  for (let attempt = 1;; attempt++) {
    try {
      await runner.run("umount", [dir], { timeoutMs: MOUNT_TIMEOUT_MS });
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      options.log.warn("umount failed, retrying", { mountpoint: dir, attempt, error: reason(err) });
      await new Promise((r) => setTimeout(r, options.retryDelayMs ?? 1000));
    }
  }
}

/**
 * Mounts `device` on a new temporary directory, runs `use(dir)` and unmounts. A mount failure
 * throws the tool's error; an unmount failure throws `UnmountError` unless `use` already threw
 * (its error wins and the unmount failure is logged).
 */
export async function withTempMount<T>(
  runner: Runner,
  device: string,
  options: TempMountOptions,
  use: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await (options.makeTempDir ?? (() => Deno.makeTempDir({ prefix: "agent-mnt-" })))();
  const flags = options.readOnly ? "ro,nosuid,nodev,noexec" : "nosuid,nodev,noexec";
  try {
    await runner.run("mount", ["-o", flags, device, dir], { timeoutMs: MOUNT_TIMEOUT_MS });
  } catch (err) {
    await Deno.remove(dir).catch(() => {});
    throw err;
  }
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: await use(dir) };
  } catch (err) {
    outcome = { error: err };
  }
  try {
    await unmount(runner, dir, options);
  } catch (err) {
    options.log.error("could not unmount", { device, mountpoint: dir, error: reason(err) });
    // The callback's error says more about what went wrong; it wins.
    if ("error" in outcome) throw outcome.error;
    throw new UnmountError(`Cannot unmount ${device} from ${dir}: ${reason(err)}`, { cause: err });
  }
  await Deno.remove(dir).catch((err) =>
    options.log.warn("could not remove the mount point", { mountpoint: dir, error: reason(err) })
  );
  if ("error" in outcome) throw outcome.error;
  return outcome.value;
}
