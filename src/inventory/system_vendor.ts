/**
 * The system vendor record (spec 05 §7): from the lshw root and its `core` → `firmware` child, as
 * IPA does. When lshw is missing or failed, `dmidecode -t 0 -t 1` (BIOS and System Information)
 * gives the same facts. Missing values are "".
 */
import type { Runner } from "../system/run.ts";
import { lshwCore, type LshwNode } from "./lshw.ts";

export interface SystemVendor {
  product_name: string;
  serial_number: string;
  manufacturer: string;
  firmware: { vendor: string; version: string; build_date: string };
}

export function vendorFromLshw(root: LshwNode): SystemVendor {
  const firmware = lshwCore(root)?.children?.find((c) => c.id === "firmware");
  return {
    product_name: root.product ?? "",
    serial_number: root.serial ?? "",
    manufacturer: root.vendor ?? "",
    firmware: {
      vendor: firmware?.vendor ?? "",
      version: firmware?.version ?? "",
      build_date: firmware?.date ?? "",
    },
  };
}

/** `Key: value` lines of each dmidecode section, keyed by the section title. */
function dmiSections(text: string): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  for (const line of text.split("\n")) {
    if (/^\S/.test(line)) {
      current = undefined;
      if (/Information$/.test(line.trim()) && !sections.has(line.trim())) {
        current = new Map();
        sections.set(line.trim(), current);
      }
    } else if (current) {
      const m = /^\t([^\t:][^:]*):\s*(.*)$/.exec(line);
      if (m) current.set(m[1]!, m[2]!.trim());
    }
  }
  return sections;
}

/** dmidecode's placeholders for unset fields mean "unknown", not a value. */
function dmiValue(value: string | undefined): string {
  if (
    !value || /^(Not Specified|Not Present|To Be Filled By O\.E\.M\.|Default string)$/i.test(value)
  ) {
    return "";
  }
  return value;
}

export function vendorFromDmidecode(text: string): SystemVendor {
  const sections = dmiSections(text);
  const system = sections.get("System Information");
  const bios = sections.get("BIOS Information");
  return {
    product_name: dmiValue(system?.get("Product Name")),
    serial_number: dmiValue(system?.get("Serial Number")),
    manufacturer: dmiValue(system?.get("Manufacturer")),
    firmware: {
      vendor: dmiValue(bios?.get("Vendor")),
      version: dmiValue(bios?.get("Version")),
      build_date: dmiValue(bios?.get("Release Date")),
    },
  };
}

export async function readDmidecodeVendor(runner: Runner): Promise<SystemVendor> {
  const result = await runner.run("dmidecode", ["-t", "0", "-t", "1"], { timeoutMs: 30_000 });
  return vendorFromDmidecode(result.stdout);
}
