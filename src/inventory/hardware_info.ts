/**
 * The composite inventory (spec 05 §1). Each area is dispatched separately, so a custom manager
 * that overrides one piece (say, `listNetworkInterfaces`) changes only that piece (spec 04 §4).
 * An area that cannot be collected is left empty with a logged reason; it never fails the whole.
 */
import type { Dispatcher } from "../hardware/manager.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { pathExists, readSystemFile } from "../system/sysfs.ts";
import type { Inventory } from "./types.ts";

interface LscpuEntry {
  field: string;
  data: string | null;
  children?: LscpuEntry[];
}

/** `lscpu -J` → the CPU object of spec 05 §3 (newer util-linux nests fields in `children`). */
export function parseLscpu(json: string): Record<string, unknown> {
  const fields = new Map<string, string>();
  const walk = (entries: LscpuEntry[]) => {
    for (const { field, data, children } of entries) {
      fields.set(field.replace(/:$/, "").toLowerCase(), data ?? "");
      if (children) walk(children);
    }
  };
  walk((JSON.parse(json) as { lscpu: LscpuEntry[] }).lscpu);
  const int = (key: string) => Number.parseInt(fields.get(key) ?? "0", 10) || 0;
  return {
    model_name: fields.get("model name") ?? "",
    frequency: fields.get("cpu max mhz") ?? fields.get("cpu mhz") ?? "",
    count: int("cpu(s)"),
    architecture: fields.get("architecture") ?? "",
    flags: (fields.get("flags") ?? "").split(/\s+/).filter(Boolean),
    socket_count: int("socket(s)"),
  };
}

/** `MemTotal` of /proc/meminfo in bytes. */
export function parseMemTotal(meminfo: string): number | null {
  const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : null;
}

/** The MAC in `BOOTIF=01-aa-bb-...` (PXE) or `BOOTIF=aa:bb:...` (virtual media). */
export function parseBootif(cmdline: string): string | null {
  const m = /(?:^|\s)BOOTIF=(\S+)/.exec(cmdline);
  if (!m) return null;
  let value = m[1]!.toLowerCase();
  if (/^01-([0-9a-f]{2}-){5}[0-9a-f]{2}$/.test(value)) value = value.slice(3).replaceAll("-", ":");
  return value;
}

export interface HardwareInfoOptions {
  runner: Runner;
  log: Logger;
  managers: Dispatcher;
  cmdlinePath: string;
}

async function area<T>(
  log: Logger,
  name: string,
  fallback: NoInfer<T>,
  collect: () => Promise<T>,
): Promise<T> {
  try {
    return await collect();
  } catch (err) {
    log.warn(`inventory: could not collect ${name}; reporting it empty`, { error: err });
    return fallback;
  }
}

export async function collectHardwareInfo(options: HardwareInfoOptions): Promise<Inventory> {
  const { runner, log, managers } = options;
  const interfaces = await area(
    log,
    "interfaces",
    [],
    () => managers.dispatch("listNetworkInterfaces"),
  );
  const cpu = await area(
    log,
    "cpu",
    {},
    async () => parseLscpu((await runner.run("lscpu", ["-J"], { timeoutMs: 10_000 })).stdout),
  );
  const disks = await area(log, "disks", [], () => managers.dispatch("listBlockDevices"));
  const memory = await area<Record<string, unknown>>(log, "memory", {}, async () => ({
    total: parseMemTotal((await readSystemFile(runner, "/proc/meminfo")) ?? ""),
    physical_mb: null,
  }));
  const boot = await area<Record<string, unknown>>(log, "boot", {}, async () => {
    const cmdline = (await readSystemFile(runner, options.cmdlinePath)) ?? "";
    return {
      current_boot_mode: (await pathExists(runner, "/sys/firmware/efi")) ? "uefi" : "bios",
      pxe_interface: parseBootif(cmdline),
    };
  });
  return {
    interfaces,
    cpu,
    disks: disks.map(({ uuid: _u, partuuid: _p, type: _t, serials: _s, wwns: _w, ...d }) => d),
    memory,
    bmc_address: null,
    bmc_v6address: null,
    system_vendor: { product_name: "", serial_number: "", manufacturer: "" },
    boot,
    hostname: Deno.hostname(),
  };
}
