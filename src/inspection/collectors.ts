/**
 * Inspection collectors (spec 06 §3): each adds keys to the data object; failures are collected
 * by `runCollectors`, never thrown, so the POST always happens.
 */
import { DeviceNotFound } from "../api/errors.ts";
import type { HardwareManagers } from "../hardware/dispatch.ts";
import { selectRootDevice } from "../hints/root_device.ts";
import { type Logger, recentLines } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { collectSystemLogs } from "../system/system_logs.ts";
import { collectDmi, DmiFormatError } from "./dmi_decode.ts";
import { collectLldp } from "./lldp.ts";
import { collectNumaTopology, NumaFormatError } from "./numa_topology.ts";
import { collectPciDevices } from "./pci_devices.ts";

export interface CollectorContext {
  runner: Runner;
  log: Logger;
  managers: Pick<HardwareManagers, "dispatch" | "versions">;
  /** The collector names configured, in order (for `configuration`). */
  names: readonly string[];
}

export type Collector = (data: Record<string, unknown>, ctx: CollectorContext) => Promise<void>;

async function collectDefault(data: Record<string, unknown>, ctx: CollectorContext) {
  const inventory = await ctx.managers.dispatch("listHardwareInfo");
  data.inventory = inventory;
  try {
    // Without hints: the disk the agent would choose by default (spec 07 §5).
    const disks = await ctx.managers.dispatch("listBlockDevices", {});
    data.root_disk = selectRootDevice(disks, null, ctx.log);
  } catch (err) {
    if (!(err instanceof DeviceNotFound)) throw err;
    ctx.log.info("no root disk candidate of at least 4 GiB; root_disk omitted");
  }
  data.boot_interface = inventory.boot.pxe_interface;
  data.configuration = {
    collectors: [...ctx.names],
    managers: Object.entries(ctx.managers.versions()).map(([name, version]) => ({
      name,
      version,
    })),
  };
}

async function collectLogs(data: Record<string, unknown>, ctx: CollectorContext) {
  try {
    const devices = (await ctx.managers.dispatch("listBlockDevices", { includePartitions: true }))
      .map((d) => d.name);
    data.logs = await collectSystemLogs({
      runner: ctx.runner,
      log: ctx.log,
      agentLog: recentLines(),
      devices,
    });
  } catch (err) {
    // IPA ignores log collection failures here.
    ctx.log.warn("could not collect logs for inspection", { error: err });
  }
}

async function collectNuma(data: Record<string, unknown>, ctx: CollectorContext) {
  try {
    data.numa_topology = await collectNumaTopology(ctx.runner);
  } catch (err) {
    if (!(err instanceof NumaFormatError)) throw err;
    ctx.log.warn("NUMA topology unavailable; numa_topology omitted", { error: err.message });
  }
}

async function collectDmiDecode(data: Record<string, unknown>, ctx: CollectorContext) {
  let dmi;
  try {
    dmi = await collectDmi(ctx.runner);
  } catch (err) {
    if (!(err instanceof DmiFormatError)) {
      throw new Error(`failed to run dmidecode: ${err instanceof Error ? err.message : err}`, {
        cause: err,
      });
    }
    // As IPA: the key is present but empty, and the problem is reported in `error`.
    data.dmi = {};
    throw err;
  }
  data.dmi = dmi;
}

/** The collectors this agent implements, by name. */
export const COLLECTORS: Readonly<Record<string, Collector>> = {
  default: collectDefault,
  logs: collectLogs,
  "pci-devices": async (data, ctx) => {
    data.pci_devices = await collectPciDevices(ctx.runner);
  },
  "numa-topology": collectNuma,
  "dmi-decode": collectDmiDecode,
  lldp: collectLldp,
};

/** What runs when `inspection_collectors` is unset (spec 10). */
export const DEFAULT_COLLECTORS = "default,logs";

/** `default,logs` → ["default", "logs"]. */
export function parseCollectorNames(text: string): string[] {
  return text.split(",").map((n) => n.trim()).filter((n) => n !== "");
}

/**
 * Runs the named collectors in order (`logs` last, so it captures the others' log lines) and
 * returns the data with `error` set as IPA formats it.
 */
export async function runCollectors(
  ctx: CollectorContext,
  collectors: Readonly<Record<string, Collector>> = COLLECTORS,
): Promise<{ data: Record<string, unknown>; failures: string[] }> {
  const data: Record<string, unknown> = {};
  const failures: string[] = [];
  const ordered = [
    ...ctx.names.filter((n) => n !== "logs"),
    ...ctx.names.filter((n) => n === "logs"),
  ];
  for (const name of ordered) {
    const collector = collectors[name];
    if (!collector) {
      failures.push(
        `Unknown inspection collector "${name}" (known: ${Object.keys(collectors).join(", ")})`,
      );
      continue;
    }
    try {
      await collector(data, ctx);
    } catch (err) {
      failures.push(`Collector "${name}" failed: ${err instanceof Error ? err.message : err}`);
      ctx.log.warn("inspection collector failed", { collector: name, error: err });
    }
  }
  data.error = failures.length === 0
    ? null
    : `The following errors were encountered:\n${failures.map((f) => `* ${f}`).join("\n")}`;
  return { data, failures };
}
