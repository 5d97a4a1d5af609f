/**
 * Network interfaces (spec 05 §2): every entry of /sys/class/net that is physical (has a
 * `device` link), a VLAN (`<base>.<digits>`) or a bond; interfaces without a usable MAC are left
 * out. Addresses come from `ip -j addr`.
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { listDirectory, readSystemFiles, resolveLink } from "../system/sysfs.ts";
import type { NetworkInterface } from "./types.ts";

const NET = "/sys/class/net";

interface IpAddrEntry {
  ifname: string;
  addr_info?: { family: string; local: string }[];
}

/** Parses `ip -j addr` into first IPv4 / first IPv6 address per interface. */
export function parseIpAddr(
  json: string,
): Map<string, { ipv4: string | null; ipv6: string | null }> {
  const out = new Map<string, { ipv4: string | null; ipv6: string | null }>();
  for (const entry of JSON.parse(json) as IpAddrEntry[]) {
    const info = entry.addr_info ?? [];
    out.set(entry.ifname, {
      ipv4: info.find((a) => a.family === "inet")?.local ?? null,
      ipv6: info.find((a) => a.family === "inet6")?.local ?? null,
    });
  }
  return out;
}

/** A MAC Ironic can use: lower-case, not all zeros, not locally administered `fa:` (IPA-master). */
export function usableMac(raw: string | undefined): string | null {
  const mac = raw?.trim().toLowerCase() ?? "";
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac)) return null;
  if (mac === "00:00:00:00:00:00" || mac.startsWith("fa:")) return null;
  return mac;
}

function basename(path: string | null): string | null {
  return path ? path.slice(path.lastIndexOf("/") + 1) : null;
}

export async function listNetworkInterfaces(
  runner: Runner,
  log: Logger,
): Promise<NetworkInterface[]> {
  const names = await listDirectory(runner, NET);
  // Every read at once: each is a process, and a server may have a dozen interfaces.
  const [files, addresses, links] = await Promise.all([
    readSystemFiles(
      runner,
      names.flatMap((n) => [
        `${NET}/${n}/address`,
        `${NET}/${n}/carrier`,
        `${NET}/${n}/device/vendor`,
        `${NET}/${n}/device/device`,
        `${NET}/${n}/bonding/mode`,
      ]),
    ),
    runner.run("ip", ["-j", "addr"], { timeoutMs: 10_000 }).then(
      (result) => parseIpAddr(result.stdout),
      (err) => {
        log.warn("could not read interface addresses", { error: err });
        return new Map<string, { ipv4: string | null; ipv6: string | null }>();
      },
    ),
    Promise.all(names.map(async (name) => {
      const device = await resolveLink(runner, `${NET}/${name}/device`);
      const driver = device ? await resolveLink(runner, `${NET}/${name}/device/driver`) : null;
      return { device, driver };
    })),
  ]);

  const interfaces: NetworkInterface[] = [];
  for (const [i, name] of names.entries()) {
    const { device, driver } = links[i]!;
    const isVlan = /^.+\.\d+$/.test(name);
    const isBond = files.has(`${NET}/${name}/bonding/mode`);
    if (!device && !isVlan && !isBond) continue;
    const mac = usableMac(files.get(`${NET}/${name}/address`));
    if (!mac) {
      log.debug("interface has no usable MAC address; skipped", { interface: name });
      continue;
    }
    const addr = addresses.get(name);
    interfaces.push({
      name,
      mac_address: mac,
      ipv4_address: addr?.ipv4 ?? null,
      ipv6_address: addr?.ipv6 ?? null,
      has_carrier: files.get(`${NET}/${name}/carrier`)?.trim() === "1",
      lldp: null,
      vendor: files.get(`${NET}/${name}/device/vendor`)?.trim() ?? null,
      product: files.get(`${NET}/${name}/device/device`)?.trim() ?? null,
      client_id: null,
      biosdevname: null,
      speed_mbps: null,
      pci_address: basename(device),
      driver: basename(driver),
    });
  }
  return interfaces;
}
