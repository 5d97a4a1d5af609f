/** Builds `BlockDevice` records for tests; unspecified attributes are null/empty. */
import type { BlockDevice } from "../inventory/types.ts";

export function device(name: string, fields: Partial<BlockDevice> = {}): BlockDevice {
  return {
    name,
    model: null,
    size: 0,
    rotational: false,
    wwn: null,
    serial: null,
    vendor: null,
    wwn_with_extension: null,
    wwn_vendor_extension: null,
    hctl: null,
    by_path: null,
    logical_sectors: 512,
    physical_sectors: 512,
    tran: null,
    ...fields,
  };
}
