/**
 * The inventory contract of spec 05 as a zod schema: what Ironic and ironic-inspector may rely
 * on. Extra keys are allowed everywhere (spec 05 §1), so this checks what must be there and its
 * type, not the absence of extensions.
 */
import { z } from "zod";

const nullableString = z.string().nullable();

export const networkInterfaceSchema = z.looseObject({
  name: z.string().min(1),
  mac_address: z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/),
  ipv4_address: nullableString,
  ipv6_address: nullableString,
  has_carrier: z.boolean(),
  lldp: z.array(z.tuple([z.number().int(), z.string()])).nullable(),
  vendor: nullableString,
  product: nullableString,
  client_id: nullableString,
  biosdevname: nullableString,
  speed_mbps: z.number().int().nonnegative().nullable(),
  pci_address: nullableString,
  driver: nullableString,
});

export const blockDeviceSchema = z.looseObject({
  name: z.string().startsWith("/dev/"),
  model: nullableString,
  size: z.number().int().positive(),
  rotational: z.boolean(),
  wwn: nullableString,
  serial: nullableString,
  vendor: nullableString,
  wwn_with_extension: nullableString,
  wwn_vendor_extension: nullableString,
  hctl: nullableString,
  by_path: nullableString,
  logical_sectors: z.number().int().positive().nullable(),
  physical_sectors: z.number().int().positive().nullable(),
  tran: nullableString,
});

export const inventorySchema = z.looseObject({
  // Consumers require at least one interface with a MAC (spec 05 §1).
  interfaces: z.array(networkInterfaceSchema).min(1),
  cpu: z.looseObject({
    model_name: z.string(),
    frequency: z.string(),
    count: z.number().int().nonnegative(),
    architecture: z.string(),
    flags: z.array(z.string()),
    socket_count: z.number().int().nonnegative(),
  }),
  disks: z.array(blockDeviceSchema),
  memory: z.looseObject({
    total: z.number().int().positive().nullable(),
    physical_mb: z.number().int().nonnegative().nullable(),
  }),
  bmc_address: nullableString,
  bmc_v6address: nullableString,
  bmc_mac: z.string().optional(),
  system_vendor: z.looseObject({
    product_name: z.string(),
    serial_number: z.string(),
    manufacturer: z.string(),
    firmware: z.looseObject({ vendor: z.string(), version: z.string(), build_date: z.string() }),
  }),
  boot: z.looseObject({
    current_boot_mode: z.enum(["uefi", "bios"]),
    pxe_interface: nullableString,
  }),
  hostname: z.string().min(1),
});
