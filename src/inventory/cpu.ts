/**
 * The CPU record (spec 05 §3) from `lscpu -J`, with `/proc/cpuinfo` as the source of flags when
 * lscpu has none (some architectures and older util-linux).
 */
import type { Runner } from "../system/run.ts";
import { readSystemFile } from "../system/sysfs.ts";

export interface Cpu {
  model_name: string;
  frequency: string;
  count: number;
  architecture: string;
  flags: string[];
  socket_count: number;
}

interface LscpuEntry {
  field: string;
  data: string | null;
  children?: LscpuEntry[];
}

/** `lscpu -J` → the CPU object (newer util-linux nests fields in `children`). */
export function parseLscpu(json: string): Cpu {
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
    frequency: fields.get("cpu max mhz") || fields.get("cpu mhz") || "",
    count: int("cpu(s)"),
    architecture: fields.get("architecture") ?? "",
    flags: (fields.get("flags") ?? "").split(/\s+/).filter(Boolean),
    socket_count: int("socket(s)"),
  };
}

/**
 * The `flags` (x86) or `Features` (arm) line of the first processor block of /proc/cpuinfo. IPA
 * ignores a line with upper-case or punctuation, which would mean a different format.
 */
export function parseCpuinfoFlags(cpuinfo: string): string[] {
  const firstBlock = cpuinfo.split(/\n\s*\n/)[0] ?? "";
  const m = /^(?:flags|features)\s*:\s*(.*)$/im.exec(firstBlock);
  if (!m || !/^[a-z0-9_\s]*$/.test(m[1]!)) return [];
  return m[1]!.split(/\s+/).filter(Boolean);
}

export async function collectCpu(runner: Runner): Promise<Cpu> {
  const cpu = parseLscpu((await runner.run("lscpu", ["-J"], { timeoutMs: 10_000 })).stdout);
  if (cpu.flags.length === 0) {
    cpu.flags = parseCpuinfoFlags((await readSystemFile(runner, "/proc/cpuinfo")) ?? "");
  }
  return cpu;
}
