/**
 * The boot mode and partition-table label of a partition-image deploy (spec 08 §7 step 1), from
 * the node Ironic sent and, as a last resort, how the ramdisk itself booted.
 */
import type { ImageInfo } from "./image_info.ts";

export type BootMode = "uefi" | "bios";
export type DiskLabel = "gpt" | "msdos";

/** The parts of the node record this looks at (all optional: the conductor may omit any). */
export interface BootModeNode {
  properties?: Record<string, unknown> | null;
  instance_info?: Record<string, unknown> | null;
  driver_internal_info?: Record<string, unknown> | null;
}

/**
 * Reads a capabilities value: a dict, a JSON object string or `k1:v1,k2:v2`. Anything else
 * (including a JSON string that is not an object) has no capabilities.
 */
export function parseCapabilities(value: unknown): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
    );
  }
  if (typeof value !== "string") return {};
  const text = value.trim();
  if (text.startsWith("{")) {
    try {
      return parseCapabilities(JSON.parse(text));
    } catch {
      return {};
    }
  }
  const out: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const at = pair.indexOf(":");
    if (at > 0) out[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return out;
}

function asMode(value: unknown): BootMode | null {
  const text = typeof value === "string" ? value.trim().toLowerCase() : "";
  return text === "uefi" || text === "bios" ? text : null;
}

/**
 * IPA's `get_node_boot_mode`: `uefi` when secure boot is requested, else the first of
 * `instance_info.deploy_boot_mode`, the `boot_mode` capability, `driver_internal_info
 * .deploy_boot_mode` and `image_info.deploy_boot_mode` that is `uefi` or `bios`, else the ramdisk's
 * own mode.
 */
export function nodeBootMode(
  node: BootModeNode | null,
  options: { info?: ImageInfo; bootedUefi: boolean },
): BootMode {
  const caps = {
    ...parseCapabilities(node?.properties?.capabilities),
    ...parseCapabilities(node?.instance_info?.capabilities),
  };
  if ((caps.secure_boot ?? "").toLowerCase() === "true") return "uefi";
  return asMode(node?.instance_info?.deploy_boot_mode) ?? asMode(caps.boot_mode) ??
    asMode(node?.driver_internal_info?.deploy_boot_mode) ??
    asMode(options.info?.deploy_boot_mode) ?? (options.bootedUefi ? "uefi" : "bios");
}

/** `gpt` in UEFI mode; else the `disk_label` capability (or image_info's), else `msdos`. */
export function diskLabel(
  node: BootModeNode | null,
  options: { info?: ImageInfo; bootMode: BootMode },
): DiskLabel {
  if (options.bootMode === "uefi") return "gpt";
  const caps = {
    ...parseCapabilities(node?.properties?.capabilities),
    ...parseCapabilities(node?.instance_info?.capabilities),
  };
  const label = caps.disk_label ?? options.info?.disk_label ?? null;
  return label === "gpt" ? "gpt" : "msdos";
}
