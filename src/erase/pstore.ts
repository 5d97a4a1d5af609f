/**
 * The `erase_pstore` clean step (spec 09 §6): the kernel's persistent store (crash dumps kept
 * in firmware memory across reboots) may hold the previous tenant's kernel messages, so every
 * entry of the pstore filesystem is deleted. With `--protect-host` the agent runs on a machine
 * that is not its own: it lists what it would delete and deletes nothing.
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { listDirectory, readSystemFile } from "../system/sysfs.ts";

/** The pstore mount point in `/proc/mounts` contents, or null (`pstore <dir> pstore ...`). */
export function findPstoreMount(mounts: string): string | null {
  for (const line of mounts.split("\n")) {
    const [source, target, type] = line.split(/\s+/);
    if (source === "pstore" && type === "pstore" && target) {
      // /proc/mounts escapes spaces and friends as octal (\040).
      return target.replace(/\\([0-7]{3})/g, (_, octal) => String.fromCharCode(parseInt(octal, 8)));
    }
  }
  return null;
}

export interface ErasePstoreOptions {
  log: Logger;
  protectHost: boolean;
}

/** Deletes every pstore entry; resolves to the entries deleted (or, protected, that would be). */
export async function erasePstore(runner: Runner, options: ErasePstoreOptions): Promise<string[]> {
  const { log } = options;
  const mounts = await readSystemFile(runner, "/proc/mounts");
  const mount = mounts === null ? null : findPstoreMount(mounts);
  if (mount === null) {
    log.info("No pstore filesystem is mounted; nothing to erase");
    return [];
  }
  const entries = await listDirectory(runner, mount);
  if (options.protectHost) {
    log.warn("protect-host: would delete the pstore entries", {
      mount,
      entries: entries.join(",") || "none",
    });
    return entries;
  }
  if (entries.length > 0) {
    // pstore is flat; -delete handles the odd subdirectory depth-first all the same.
    await runner.run("find", [mount, "-mindepth", "1", "-delete"], { timeoutMs: 60_000 });
  }
  log.info("Erased the pstore", { mount, entries: entries.length });
  return entries;
}
