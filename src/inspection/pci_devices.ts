/** The `pci-devices` collector (spec 06 §3): one record per `/sys/bus/pci/devices` entry. */
import { listDirectory, readSystemFiles } from "../system/sysfs.ts";
import type { Runner } from "../system/run.ts";

const PCI_DIR = "/sys/bus/pci/devices";

export interface PciDevice {
  vendor_id: string | null;
  product_id: string | null;
  class: string | null;
  revision: string | null;
  bus: string;
  numa_node_id: string | null;
}

/** `0x8086\n` → `8086`; null for an absent file. */
function hex(text: string | undefined): string | null {
  if (text === undefined) return null;
  return text.trim().replace(/^0x/i, "");
}

export async function collectPciDevices(runner: Runner): Promise<PciDevice[]> {
  const buses = await listDirectory(runner, PCI_DIR);
  const files = ["vendor", "device", "class", "revision", "numa_node"];
  const contents = await readSystemFiles(
    runner,
    buses.flatMap((bus) => files.map((f) => `${PCI_DIR}/${bus}/${f}`)),
  );
  return buses.map((bus) => {
    const read = (f: string) => contents.get(`${PCI_DIR}/${bus}/${f}`);
    return {
      vendor_id: hex(read("vendor")),
      product_id: hex(read("device")),
      class: hex(read("class")),
      revision: hex(read("revision")),
      bus,
      numa_node_id: read("numa_node")?.trim() ?? null,
    };
  });
}
