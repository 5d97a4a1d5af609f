/**
 * The `clean_uefi_nvram` step (spec 04 §8.5, spec 09 §7): removes UEFI boot entries left by the
 * previous tenant's operating system, chosen by regular expressions on each entry's device
 * path. With `--protect-host` the agent runs on a machine that is not its own: it logs which
 * entries it would remove and removes none.
 */
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { pathExists } from "../system/sysfs.ts";

/** IPA's defaults: disk entries, and shim or GRUB loaders wherever they live. */
export const DEFAULT_NVRAM_PATTERNS: readonly string[] = ["^HD\\(", "shim.*\\.efi", "grub.*\\.efi"];

export interface BootEntry {
  /** Four hex digits, as `efibootmgr -b` takes them. */
  number: string;
  label: string;
  devicePath: string;
  active: boolean;
}

// As IPA's efi_utils: the device path starts with one of these node types.
const ENTRY =
  /^Boot([0-9A-Fa-f]{4})(\*?)\s(.*?)\s+((?:BBS|HD|FvFile|FvVol|PciRoot|VenMsg|VenHw|UsbClass)\(.+)$/;

/**
 * The text of `efibootmgr -v` output. Some firmware makes it print UTF-16LE; decoded as UTF-8
 * (as the runner does) every ASCII character is then followed by a NUL and a byte-order mark
 * turns into replacement characters, which are dropped. Non-ASCII labels do not survive, but
 * labels are only logged: matching uses the device path, which is ASCII.
 */
export function efibootmgrText(stdout: string): string {
  if (!stdout.includes("\u0000")) return stdout;
  return stdout.replaceAll("\u0000", "").replace(/^(\uFFFD|\uFEFF)+/, "");
}

/** Boot entries of `efibootmgr -v` output, in order. */
export function parseBootEntries(stdout: string): BootEntry[] {
  const entries: BootEntry[] = [];
  for (const raw of efibootmgrText(stdout).split(/\r?\n/)) {
    const match = ENTRY.exec(raw.trimEnd());
    if (!match) continue;
    entries.push({
      number: match[1]!.toUpperCase(),
      active: match[2] === "*",
      label: match[3]!.trim(),
      devicePath: match[4]!,
    });
  }
  return entries;
}

/** Compiles `match_patterns` (case-insensitive); a bad pattern is a 400 naming it. */
export function compilePatterns(patterns: readonly string[]): RegExp[] {
  return patterns.map((pattern) => {
    try {
      return new RegExp(pattern, "i");
    } catch (err) {
      throw new InvalidCommandParamsError(
        `clean_uefi_nvram: match_patterns entry ${JSON.stringify(pattern)} is not a valid ` +
          `regular expression: ${err instanceof Error ? err.message : err}`,
      );
    }
  });
}

export interface CleanNvramOptions {
  log: Logger;
  protectHost: boolean;
  /** Regular expressions; default `DEFAULT_NVRAM_PATTERNS`. */
  matchPatterns?: readonly string[] | null;
}

/** Removes matching boot entries; resolves to the entries removed (or that would be). */
export async function cleanUefiNvram(
  runner: Runner,
  options: CleanNvramOptions,
): Promise<BootEntry[]> {
  const { log } = options;
  const patterns = compilePatterns(options.matchPatterns ?? DEFAULT_NVRAM_PATTERNS);
  if (!(await pathExists(runner, "/sys/firmware/efi"))) {
    log.info("Not booted with UEFI: no NVRAM boot entries to clean");
    return [];
  }
  const { stdout } = await runner.run("efibootmgr", ["-v"], { timeoutMs: 60_000 });
  const matching = parseBootEntries(stdout).filter((entry) =>
    patterns.some((p) => p.test(entry.devicePath))
  );
  for (const entry of matching) {
    const fields = { entry: `Boot${entry.number}`, label: entry.label, path: entry.devicePath };
    if (options.protectHost) {
      log.warn("protect-host: would remove the UEFI boot entry", fields);
      continue;
    }
    log.info("Removing UEFI boot entry", fields);
    await runner.run("efibootmgr", ["-b", entry.number, "-B"], { timeoutMs: 60_000 });
  }
  if (matching.length === 0) log.info("No UEFI boot entry matches the patterns");
  return matching;
}
