/**
 * The composite inventory (spec 05 §1). Disks and interfaces are dispatched separately, so a
 * custom manager that overrides one piece (say, `listNetworkInterfaces`) changes only that piece
 * (spec 04 §4). `lshw` runs once and feeds memory, vendor and interface speed. An area that
 * cannot be collected is left empty with a logged reason; it never fails the whole.
 */
import type { Dispatcher } from "../hardware/manager.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { pathExists, readSystemFile } from "../system/sysfs.ts";
import { collectBmc } from "./bmc.ts";
import { collectCpu } from "./cpu.ts";
import type { LldpTlv } from "./lldp_frame.ts";
import { type LshwNode, readLshw } from "./lshw.ts";
import { type Memory, parseMemTotal, physicalMemoryMb } from "./memory.ts";
import { addBiosdevnames, speedsFromLshw } from "./nic_details.ts";
import { readDmidecodeVendor, type SystemVendor, vendorFromLshw } from "./system_vendor.ts";
import type { Inventory } from "./types.ts";

export { parseLscpu } from "./cpu.ts";
export { parseMemTotal } from "./memory.ts";

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
  /** `collect_lldp`: wait for one LLDP frame per interface and report its TLVs in `lldp`. */
  collectLldp?: boolean;
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

const EMPTY_VENDOR: SystemVendor = {
  product_name: "",
  serial_number: "",
  manufacturer: "",
  firmware: { vendor: "", version: "", build_date: "" },
};

export async function collectHardwareInfo(options: HardwareInfoOptions): Promise<Inventory> {
  const { runner, log, managers } = options;
  const lshw = await area<LshwNode | null>(log, "lshw data", null, () => readLshw(runner));
  const interfaces = await area(log, "interfaces", [], async () => {
    const nics = await managers.dispatch("listNetworkInterfaces");
    const speeds = lshw ? speedsFromLshw(lshw) : new Map<string, number>();
    for (const nic of nics) nic.speed_mbps ??= speeds.get(nic.name) ?? null;
    await addBiosdevnames(runner, log, nics);
    if (options.collectLldp) {
      const names = nics.map((n) => n.name);
      const lldp = await area<Record<string, LldpTlv[]>>(
        log,
        "LLDP data",
        {},
        () => managers.dispatch("collectLldpData", names),
      );
      // An interface whose capture failed (logged by the capture) stays null, as in IPA.
      for (const nic of nics) nic.lldp = lldp[nic.name] ?? null;
    }
    return nics;
  });
  const cpu = await area(log, "cpu", {
    model_name: "",
    frequency: "",
    count: 0,
    architecture: "",
    flags: [],
    socket_count: 0,
  }, () => collectCpu(runner));
  const disks = await area(log, "disks", [], () => managers.dispatch("listBlockDevices"));
  const memory: Memory = {
    total: await area(
      log,
      "memory.total",
      null,
      async () => parseMemTotal((await readSystemFile(runner, "/proc/meminfo")) ?? ""),
    ),
    physical_mb: lshw ? physicalMemoryMb(lshw, log) : null,
  };
  if (!lshw) log.warn("inventory: no lshw data; memory.physical_mb is null");
  const bmc = await area(
    log,
    "BMC addresses",
    { bmc_address: null, bmc_v6address: null },
    () => collectBmc(runner, log),
  );
  const systemVendor = await area(
    log,
    "system_vendor",
    EMPTY_VENDOR,
    () => lshw ? Promise.resolve(vendorFromLshw(lshw)) : readDmidecodeVendor(runner),
  );
  const boot = await area<Inventory["boot"]>(
    log,
    "boot",
    { current_boot_mode: "bios", pxe_interface: null },
    async () => {
      const cmdline = (await readSystemFile(runner, options.cmdlinePath)) ?? "";
      return {
        current_boot_mode: (await pathExists(runner, "/sys/firmware/efi")) ? "uefi" : "bios",
        pxe_interface: parseBootif(cmdline),
      };
    },
  );
  const inventory: Inventory = {
    interfaces,
    cpu,
    disks: disks.map(({ uuid: _u, partuuid: _p, type: _t, serials: _s, wwns: _w, ...d }) => d),
    memory,
    bmc_address: bmc.bmc_address,
    bmc_v6address: bmc.bmc_v6address,
    system_vendor: systemVendor,
    boot,
    hostname: Deno.hostname(),
  };
  if (bmc.bmc_mac) inventory.bmc_mac = bmc.bmc_mac;
  return inventory;
}
