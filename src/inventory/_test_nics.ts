/** Builds `NetworkInterface` records for tests; unspecified attributes are null. */
import type { NetworkInterface } from "./types.ts";

export function nic(name: string, fields: Partial<NetworkInterface> = {}): NetworkInterface {
  return {
    name,
    mac_address: "52:54:00:00:00:01",
    ipv4_address: null,
    ipv6_address: null,
    has_carrier: true,
    lldp: null,
    vendor: null,
    product: null,
    client_id: null,
    biosdevname: null,
    speed_mbps: null,
    pci_address: null,
    driver: null,
    ...fields,
  };
}
