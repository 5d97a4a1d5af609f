/**
 * "Manage UEFI" of `image.install_bootloader` (spec 08 §10.4): find the ESP of the install
 * disk, look for boot loaders in it, and add one NVRAM boot entry per loader with `efibootmgr`.
 *
 * The ESP is read with mtools (`mdir`, `mtype`) instead of being mounted: the agent does not
 * depend on the ramdisk kernel's vfat driver, and a tenant-supplied filesystem never reaches
 * the kernel. With `--protect-host` the NVRAM belongs to the machine the agent runs on: the
 * entries that would be removed and created are logged, and none is touched.
 */
import { DeviceNotFound } from "../api/errors.ts";
import { partitionPath, probePartition } from "../image/config_drive_partition.ts";
import { rescanDevice } from "../image/partition_table.ts";
import type { Sleep } from "../image/sleep.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { efibootmgrText, parseBootEntries } from "./nvram.ts";

const TOOL_TIMEOUT_MS = 2 * 60 * 1000;
/** mtools refuses devices whose geometry it cannot check; a partition has none. */
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: "1" };

/** File names IPA looks for in an ESP (lower case); a shim fallback CSV wins over the rest. */
const LOADER_NAMES = new Set([
  "bootx64.csv",
  "bootaa64.csv",
  "boot.csv",
  "bootia32.efi",
  "bootx64.efi",
  "bootia64.efi",
  "bootarm.efi",
  "bootaa64.efi",
  "bootriscv32.efi",
  "bootriscv64.efi",
  "bootriscv128.efi",
  "grubaa64.efi",
  "winload.efi",
]);

export interface PartedPartition {
  number: number;
  flags: string[];
}

/** Partitions and flags from `parted -s -m <dev> unit MiB print`, with the label type. */
export function parsePartedFlags(stdout: string): { label: string; partitions: PartedPartition[] } {
  const lines = stdout.split("\n").map((l) => l.trim().replace(/;$/, "")).filter((l) => l);
  const header = lines.findIndex((l) => l === "BYT" || l === "CHS" || l === "CYL");
  const label = lines[header + 1]?.split(":")[5] ?? "";
  const partitions = lines.slice(header + 2).flatMap((line) => {
    const fields = line.split(":");
    if (!/^\d+$/.test(fields[0] ?? "")) return [];
    const flags = (fields[6] ?? "").split(",").map((f) => f.trim()).filter((f) => f);
    return [{ number: Number(fields[0]), flags }];
  });
  return { label, partitions };
}

/** The first partition flagged `esp`, or `boot` on a GPT disk (IPA's `get_efi_part_on_device`). */
export function findEspNumber(stdout: string): number | null {
  const { label, partitions } = parsePartedFlags(stdout);
  const esp = partitions.find((p) =>
    p.flags.includes("esp") || (label === "gpt" && p.flags.includes("boot"))
  );
  return esp?.number ?? null;
}

/** File paths (`/EFI/BOOT/BOOTX64.EFI`) of `mdir -/ -b` output; directories end in `/`. */
export function parseMdirBare(stdout: string): string[] {
  return stdout.split("\n").map((l) => l.trim()).filter((l) => l.startsWith("::/"))
    .filter((l) => !l.endsWith("/")).map((l) => l.slice(2));
}

export interface Loader {
  /** The loader path as firmware wants it: `\EFI\debian\shimx64.efi`. */
  path: string;
  label: string;
}

function backslashed(path: string): string {
  return path.replaceAll("/", "\\");
}

/**
 * The first record of a shim fallback CSV (`filename,label,options,description`), UTF-16 as
 * shim writes it. The runner decodes stdout as UTF-8, so each ASCII character arrives followed
 * by a NUL: those and a byte-order mark are dropped (non-ASCII labels do not survive).
 */
export function parseBootCsv(stdout: string): { file: string; label: string } | null {
  const text = efibootmgrText(stdout).replace(/^[\uFEFF\uFFFD]+/, "");
  for (const line of text.split(/\r?\n/)) {
    const [file, label] = line.split(",").map((f) => f.trim());
    if (file && label) return { file, label };
  }
  return null;
}

async function espPartition(
  runner: Runner,
  device: string,
  efiSystemPartUuid: string | null,
): Promise<string> {
  const parted = await runner.run("parted", ["-s", "-m", device, "unit", "MiB", "print"], {
    timeoutMs: TOOL_TIMEOUT_MS,
  });
  const number = findEspNumber(parted.stdout);
  // The node name is computed, not looked up through udev (which need not run here).
  if (number !== null) return partitionPath(device, number);
  if (efiSystemPartUuid) {
    const { stdout } = await runner.run("lsblk", ["-P", "-p", "-n", "-o", "NAME,TYPE", device], {
      timeoutMs: TOOL_TIMEOUT_MS,
    });
    for (const line of stdout.split("\n")) {
      const name = /NAME="([^"]*)"/.exec(line)?.[1];
      if (!name || /TYPE="([^"]*)"/.exec(line)?.[1] !== "part") continue;
      const fields = await probePartition(runner, name);
      const wanted = efiSystemPartUuid.toLowerCase();
      if (
        [fields.UUID, fields.PART_ENTRY_UUID, fields.LABEL].some((v) => v?.toLowerCase() === wanted)
      ) return name;
    }
  }
  throw new DeviceNotFound(`No EFI partition could be detected on device ${device}`);
}

/** Loaders in the ESP: the CSV-declared ones if any CSV exists, else every known `.efi`. */
export async function findLoaders(runner: Runner, esp: string, log: Logger): Promise<Loader[]> {
  const listing = await runner.run("mdir", ["-/", "-b", "-i", esp, "::/"], {
    timeoutMs: TOOL_TIMEOUT_MS,
    env: MTOOLS_ENV,
  });
  const files = parseMdirBare(listing.stdout).filter((path) =>
    LOADER_NAMES.has(path.slice(path.lastIndexOf("/") + 1).toLowerCase())
  );
  const csvs = files.filter((path) => path.toLowerCase().endsWith(".csv"));
  if (csvs.length > 0) {
    const loaders: Loader[] = [];
    for (const csv of csvs) {
      const content = await runner.run("mtype", ["-i", esp, `::${csv}`], {
        timeoutMs: TOOL_TIMEOUT_MS,
        env: MTOOLS_ENV,
      });
      const entry = parseBootCsv(content.stdout);
      if (!entry) {
        log.warn("ignoring a boot CSV without a filename,label record", { esp, file: csv });
        continue;
      }
      const dir = csv.slice(0, csv.lastIndexOf("/") + 1);
      loaders.push({ path: backslashed(dir + entry.file), label: entry.label });
    }
    return loaders;
  }
  return files.map((path, i) => ({ path: backslashed(path), label: `ironic${i + 1}` }));
}

export interface ManageUefiOptions {
  log: Logger;
  protectHost: boolean;
  /** `efi_system_part_uuid` from the conductor: the fallback when no partition is flagged. */
  efiSystemPartUuid?: string | null;
  sleep?: Sleep;
}

export interface ManageUefiResult {
  esp: string;
  /** Loaders given an entry (or, with `--protect-host`, that would have been). */
  loaders: Loader[];
}

/**
 * Adds boot entries for the loaders on `device`'s ESP. Resolves to null when the ESP holds no
 * loader (IPA then goes on to the BIOS path); throws `DeviceNotFound` without an ESP.
 */
export async function manageUefi(
  runner: Runner,
  device: string,
  options: ManageUefiOptions,
): Promise<ManageUefiResult | null> {
  const { log } = options;
  await rescanDevice(runner, device, { log, sleep: options.sleep });
  const esp = await espPartition(runner, device, options.efiSystemPartUuid ?? null);
  const espNumber = /(\d+)$/.exec(esp)?.[1];
  if (!espNumber) throw new DeviceNotFound(`Cannot tell the partition number of ESP ${esp}`);
  const loaders = await findLoaders(runner, esp, log);
  if (loaders.length === 0) {
    log.warn("the EFI system partition holds no boot loader", { device, esp });
    return null;
  }
  const listed = await runner.run("efibootmgr", ["-v"], { timeoutMs: TOOL_TIMEOUT_MS });
  const entries = parseBootEntries(listed.stdout);
  for (const loader of loaders) {
    const create = ["-v", "-c", "-d", device, "-p", espNumber, "-w", "-L", loader.label, "-l"];
    create.push(loader.path);
    const stale = entries.filter((entry) => entry.label === loader.label);
    const fields = { device, esp, loader: loader.path, label: loader.label };
    if (options.protectHost) {
      for (const entry of stale) {
        log.warn("protect-host: would remove the UEFI boot entry", {
          ...fields,
          entry: `Boot${entry.number}`,
        });
      }
      log.warn("protect-host: would add a UEFI boot entry", {
        ...fields,
        command: `efibootmgr ${create.join(" ")}`,
      });
      continue;
    }
    for (const entry of stale) {
      log.info("removing the UEFI boot entry with the same label", {
        ...fields,
        entry: `Boot${entry.number}`,
      });
      await runner.run("efibootmgr", ["-b", entry.number, "-B"], { timeoutMs: TOOL_TIMEOUT_MS });
    }
    log.info("adding a UEFI boot entry", fields);
    await runner.run("efibootmgr", create, { timeoutMs: TOOL_TIMEOUT_MS });
  }
  await runner.run("sync", [], { timeoutMs: TOOL_TIMEOUT_MS });
  return { esp, loaders };
}
