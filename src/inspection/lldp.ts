/**
 * The `lldp` collector (spec 06 §3): `lldp_raw` = `{ifname: [[tlv_type, "hex"], ...]}` from a
 * fresh capture on every interface of the inventory (`[]` where no frame came within
 * `lldp_timeout`). The capture is the `collectLldpData` capability, so a manager that must
 * first switch off a NIC's embedded LLDP agent (IPA's Intel CNA manager) can take it over.
 */
import type { Inventory } from "../inventory/types.ts";
import type { CollectorContext } from "./collectors.ts";

/** Interfaces whose capture failed; the others' data is still in `lldp_raw`. */
export class LldpCaptureFailed extends Error {
  override name = "LldpCaptureFailed";
  constructor(readonly interfaces: readonly string[]) {
    super(
      `LLDP capture failed on interface(s) ${interfaces.map((n) => `"${n}"`).join(", ")}; ` +
        "the agent log has the reason for each",
    );
  }
}

export async function collectLldp(
  data: Record<string, unknown>,
  ctx: CollectorContext,
): Promise<void> {
  // The `default` collector's inventory when it ran first, so both name the same interfaces.
  const inventory = data.inventory as Inventory | undefined;
  const nics = inventory?.interfaces ?? await ctx.managers.dispatch("listNetworkInterfaces");
  const names = nics.map((n) => n.name).filter((n) => n !== "lo");
  const lldp = await ctx.managers.dispatch("collectLldpData", names);
  data.lldp_raw = lldp;
  const failed = names.filter((n) => !Object.hasOwn(lldp, n));
  if (failed.length > 0) throw new LldpCaptureFailed(failed);
}
