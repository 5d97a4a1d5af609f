/**
 * Interface details that need tools beyond sysfs (spec 05 §2): link speed from the shared lshw
 * tree and the `biosdevname` name. Applied to whatever `listNetworkInterfaces` returned, so a
 * custom manager's interface list gets them too.
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { ToolError } from "../system/run.ts";
import type { NetworkInterface } from "./types.ts";
import { type LshwNode, walkLshw } from "./lshw.ts";

const BITS_PER_SECOND: Record<string, number> = {
  "bit/s": 1,
  "kbit/s": 1e3,
  "mbit/s": 1e6,
  "gbit/s": 1e9,
};

/**
 * Mbit/s per interface name from lshw `network` nodes: `capacity` (the maximum) else `speed`
 * (lshw JSON names the current speed `size`), in `units` (default bit/s).
 */
export function speedsFromLshw(root: LshwNode): Map<string, number> {
  const out = new Map<string, number>();
  for (const node of walkLshw(root)) {
    if (node.class !== "network") continue;
    const names = Array.isArray(node.logicalname) ? node.logicalname : [node.logicalname];
    const bits = node.capacity ?? node.size;
    if (bits === undefined) continue;
    const factor = BITS_PER_SECOND[(node.units ?? "bit/s").toLowerCase()] ?? 1;
    for (const name of names) if (name) out.set(name, Math.floor((bits * factor) / 1e6));
  }
  return out;
}

/**
 * `biosdevname -i <if>` for each non-VLAN interface. Exit code 4 (a VM, no SMBIOS slot data)
 * gives null; a missing tool gives null for all, logged once.
 */
export async function addBiosdevnames(
  runner: Runner,
  log: Logger,
  interfaces: NetworkInterface[],
): Promise<void> {
  for (const nic of interfaces) {
    if (/\.\d+$/.test(nic.name)) continue;
    try {
      const result = await runner.run("biosdevname", ["-i", nic.name], {
        timeoutMs: 10_000,
        okCodes: [0, 4],
      });
      nic.biosdevname = result.code === 0 && result.stdout.trim() ? result.stdout.trim() : null;
    } catch (err) {
      log.warn("inventory: biosdevname failed; biosdevname left empty", {
        interface: nic.name,
        error: err,
      });
      if (err instanceof ToolError && err.exitCode === null) return; // not installed
    }
  }
}
