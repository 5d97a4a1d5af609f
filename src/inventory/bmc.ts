/**
 * BMC addresses (spec 05 §6) from `ipmitool` over LAN channels 1–11. Probed only when an IPMI
 * device node exists: without one ipmitool can only fail, slowly. Each channel's output is read
 * once and shared by the three values.
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { listDirectory } from "../system/sysfs.ts";

export interface BmcInfo {
  bmc_address: string | null;
  bmc_v6address: string | null;
  /** Absent when unknown (spec 05 §1). */
  bmc_mac?: string;
}

const CHANNELS = Array.from({ length: 11 }, (_, i) => i + 1);
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** `Key : value` pairs of `ipmitool lan print <ch>` (the first occurrence of each key wins). */
export function parseLanPrint(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([^:]+?)\s*:\s?(.*)$/.exec(line);
    if (m && !out.has(m[1]!.trim())) out.set(m[1]!.trim(), m[2]!.trim());
  }
  return out;
}

/** Whether `ipmitool lan6 print <ch> enables` says IPv6 addressing is on. */
export function parseLan6Enables(text: string): boolean {
  const m = /Addressing Enables\s*:\s*(\S+)/i.exec(text) ?? /^\s*(ipv6|both|ipv4)\s*$/im.exec(text);
  return m !== null && ["ipv6", "both"].includes(m[1]!.toLowerCase());
}

export interface Lan6Address {
  address: string;
  enabled: boolean;
  active: boolean;
}

/**
 * Address blocks of `ipmitool lan6 print <ch> dynamic_addr|static_addr`. Dynamic entries count as
 * enabled when their source is DHCPv6 or SLAAC; static ones carry `Enabled: yes`.
 */
export function parseLan6Addresses(text: string): Lan6Address[] {
  const blocks = text.split(/^(?=IPv6 (?:Dynamic|Static) Address)/m)
    .filter((b) => /^IPv6 (?:Dynamic|Static) Address/.test(b));
  const out: Lan6Address[] = [];
  for (const block of blocks) {
    const field = (key: string) =>
      new RegExp(`^\\s*${key}\\s*:\\s*(.*)$`, "im").exec(block)?.[1]?.trim() ?? "";
    const address = field("Address").replace(/\/\d+$/, "");
    if (!address) continue;
    const dynamic = /^IPv6 Dynamic/.test(block);
    const source = field("Source/Type").toLowerCase();
    out.push({
      address,
      enabled: dynamic ? ["dhcpv6", "slaac"].includes(source) : field("Enabled") === "yes",
      active: field("Status").toLowerCase() === "active",
    });
  }
  return out;
}

function usableV6(addr: Lan6Address): boolean {
  return addr.enabled && addr.active && addr.address !== "::";
}

/** Reads ipmitool once per channel and question; "Invalid channel" means "skip it". */
class ChannelReader {
  readonly #runner: Runner;
  readonly #cache = new Map<string, Promise<string | null>>();
  constructor(runner: Runner) {
    this.#runner = runner;
  }

  /** Output of `ipmitool <args>`, or null for an invalid channel; other failures throw. */
  read(args: string[]): Promise<string | null> {
    const key = args.join(" ");
    let pending = this.#cache.get(key);
    if (!pending) {
      pending = this.#runner.run("ipmitool", args, { timeoutMs: 30_000, okCodes: [0, 1] }).then(
        (r) => {
          if (/Invalid channel/i.test(r.stdout + r.stderr)) return null;
          if (r.code !== 0) throw new Error(`ipmitool ${key} exited 1: ${r.stderr.trim()}`);
          return r.stdout;
        },
      );
      this.#cache.set(key, pending);
    }
    return pending;
  }
}

async function bmcAddress(reader: ChannelReader, log: Logger): Promise<string> {
  for (const ch of CHANNELS) {
    const out = await reader.read(["lan", "print", String(ch)]);
    if (out === null) continue;
    const ip = parseLanPrint(out).get("IP Address") ?? "";
    if (!IPV4.test(ip)) {
      log.warn("inventory: BMC channel reports an invalid IP address", { channel: ch, value: ip });
      continue;
    }
    if (ip !== "0.0.0.0") return ip;
  }
  return "0.0.0.0";
}

async function v6Addresses(reader: ChannelReader, ch: number): Promise<Lan6Address[]> {
  const dynamic = await reader.read(["lan6", "print", String(ch), "dynamic_addr"]);
  const fixed = await reader.read(["lan6", "print", String(ch), "static_addr"]);
  return [...parseLan6Addresses(dynamic ?? ""), ...parseLan6Addresses(fixed ?? "")];
}

async function bmcV6Address(reader: ChannelReader): Promise<string> {
  for (const ch of CHANNELS) {
    const enables = await reader.read(["lan6", "print", String(ch), "enables"]);
    if (enables === null || !parseLan6Enables(enables)) continue;
    const found = (await v6Addresses(reader, ch)).find(usableV6);
    if (found) return found.address;
  }
  return "::/0";
}

async function bmcMac(reader: ChannelReader): Promise<string | undefined> {
  for (const ch of CHANNELS) {
    const out = await reader.read(["lan", "print", String(ch)]);
    if (out === null) continue;
    const fields = parseLanPrint(out);
    const mac = (fields.get("MAC Address") ?? "").toLowerCase();
    if (fields.get("IP Address") === "0.0.0.0") {
      // An IPv4-less channel counts only when it has a routable IPv6 address.
      const v6 = await v6Addresses(reader, ch);
      if (!v6.some((a) => a.address !== "::" && !/^fe80:/i.test(a.address))) continue;
    }
    if (MAC.test(mac) && mac !== "00:00:00:00:00:00") return mac;
  }
  return undefined;
}

/** Whether the kernel exposes an IPMI device (`/dev/ipmi0`, `/dev/ipmi/0`, `/dev/ipmidev/0`). */
export async function hasIpmiDevice(runner: Runner): Promise<boolean> {
  const dev = await listDirectory(runner, "/dev");
  return dev.some((name) => name.startsWith("ipmi"));
}

/** BMC facts; each value that cannot be read is null (or absent) with a logged reason. */
export async function collectBmc(runner: Runner, log: Logger): Promise<BmcInfo> {
  if (!(await hasIpmiDevice(runner))) {
    log.info("inventory: no IPMI device under /dev; BMC addresses not probed");
    return { bmc_address: null, bmc_v6address: null };
  }
  const reader = new ChannelReader(runner);
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      log.warn(`inventory: cannot read ${what} with ipmitool; reporting it empty`, { error: err });
      return null;
    }
  };
  const info: BmcInfo = {
    bmc_address: await attempt("bmc_address", () => bmcAddress(reader, log)),
    bmc_v6address: await attempt("bmc_v6address", () => bmcV6Address(reader)),
  };
  const mac = await attempt("bmc_mac", () => bmcMac(reader));
  if (mac) info.bmc_mac = mac;
  return info;
}
