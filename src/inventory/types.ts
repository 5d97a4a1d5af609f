/** Inventory records as serialised on the wire (spec 05). */
import type { Cpu } from "./cpu.ts";
import type { Memory } from "./memory.ts";
import type { SystemVendor } from "./system_vendor.ts";

/** A disk (or, in partition listings, a partition or md device): spec 05 §5. */
export interface BlockDevice {
  name: string;
  model: string | null;
  size: number;
  rotational: boolean;
  wwn: string | null;
  serial: string | null;
  vendor: string | null;
  wwn_with_extension: string | null;
  wwn_vendor_extension: string | null;
  hctl: string | null;
  by_path: string | null;
  logical_sectors: number | null;
  physical_sectors: number | null;
  tran: string | null;
  /** Internal only (not serialised by IPA): filesystem UUID and partition UUID. */
  uuid?: string | null;
  partuuid?: string | null;
  /** lsblk TYPE (`disk`, `part`, `md`, `raid1`, `loop` when admitted by --only-block-devices). */
  type?: string;
  /** All collected serials / WWNs for hint matching (spec 07 §3, list-valued attributes). */
  serials?: (string | null)[];
  wwns?: (string | null)[];
}

/** One NIC: spec 05 §2. */
export interface NetworkInterface {
  name: string;
  mac_address: string;
  ipv4_address: string | null;
  ipv6_address: string | null;
  has_carrier: boolean;
  lldp: [number, string][] | null;
  vendor: string | null;
  product: string | null;
  client_id: string | null;
  biosdevname: string | null;
  speed_mbps: number | null;
  pci_address: string | null;
  driver: string | null;
}

/** The top-level inventory (spec 05 §1). */
export interface Inventory {
  interfaces: NetworkInterface[];
  cpu: Cpu;
  disks: BlockDevice[];
  memory: Memory;
  bmc_address: string | null;
  bmc_v6address: string | null;
  bmc_mac?: string;
  system_vendor: SystemVendor;
  boot: { current_boot_mode: "uefi" | "bios"; pxe_interface: string | null };
  hostname: string;
}
