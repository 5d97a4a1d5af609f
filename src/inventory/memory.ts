/**
 * The memory record (spec 05 §4): `total` is the usable RAM of /proc/meminfo, `physical_mb` the
 * installed RAM that lshw reports (what inspection uses for `memory_mb`).
 */
import type { Logger } from "../log.ts";
import { lshwCore, type LshwNode } from "./lshw.ts";

export interface Memory {
  total: number | null;
  physical_mb: number | null;
}

/** `MemTotal` of /proc/meminfo in bytes. */
export function parseMemTotal(meminfo: string): number | null {
  const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : null;
}

const UNIT_BYTES: Record<string, number> = {
  bytes: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
};

function bytesOf(node: LshwNode): number {
  const factor = UNIT_BYTES[(node.units ?? "bytes").toLowerCase()] ?? 1;
  return (node.size ?? 0) * factor;
}

/**
 * Installed memory in MiB: each `memory` / `memory:<n>` child of `core` counts its own size, or
 * else the sum of its banks. Returns 0 (with a warning) when lshw lists no sized memory.
 */
export function physicalMemoryMb(root: LshwNode, log: Logger): number {
  let bytes = 0;
  for (const node of lshwCore(root)?.children ?? []) {
    if (!/^memory(:\d+)?$/.test(node.id ?? "")) continue;
    if (node.size !== undefined) bytes += bytesOf(node);
    else for (const bank of node.children ?? []) bytes += bytesOf(bank);
  }
  const mb = Math.floor(bytes / 1048576);
  if (mb === 0) log.warn("inventory: lshw reports no physical memory size; physical_mb is 0");
  return mb;
}
