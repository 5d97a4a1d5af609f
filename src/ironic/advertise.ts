/**
 * The advertise address, i.e. the host of `callback_url` (spec 01 §7):
 *
 * 1. `advertise_host` if set;
 * 2. else, if `network_interface` is set, its first IPv4 address (`ip -j -4 addr show dev`);
 *    an interface without one is an error, as in IPA;
 * 3. else the source address of the route to each Ironic API host (`ip route get <addr>`),
 *    host names resolved to their A and AAAA records, up to `ip_lookup_attempts` rounds with
 *    `ip_lookup_sleep` seconds between rounds, link-local sources skipped; the first found wins.
 *
 * Nothing found raises `LookupAgentIPError` ("Agent could not find a valid IP address").
 */
import { ipFamily } from "../system/ip_address.ts";
import { z } from "zod";
import { LookupAgentIPError } from "../api/errors.ts";
import type { Config } from "../config.ts";
import { log as rootLog, type Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { type Clock, systemClock } from "./clock.ts";

const IP_TIMEOUT_MS = 10_000;
const DNS_TIMEOUT_MS = 10_000;

export interface AdvertiseOptions {
  config: Pick<
    Config,
    "advertiseHost" | "networkInterface" | "apiUrl" | "ipLookupAttempts" | "ipLookupSleep"
  >;
  runner: Runner;
  /** Host name to addresses; defaults to `resolveHost` (DNS A and AAAA). */
  resolve?: (host: string) => Promise<string[]>;
  /**
   * Keeps only API URLs that answer (IPA-master probes each URL first, spec 01 §2); e.g.
   * `IronicClient.probe`. Without it every URL is used.
   */
  isReachable?: (apiUrl: string) => Promise<boolean>;
  clock?: Clock;
  signal?: AbortSignal;
  logger?: Logger;
}

export interface CallbackUrlParts {
  protocol: "http" | "https";
  host: string;
  port: number;
}

/** `<protocol>://<host>:<port>`, IPv6 hosts in brackets, no trailing slash. */
export function formatCallbackUrl(parts: CallbackUrlParts): string {
  const host = parts.host.includes(":") && !parts.host.startsWith("[")
    ? `[${parts.host}]`
    : parts.host;
  return `${parts.protocol}://${host}:${parts.port}`;
}

/** True for IPv4 169.254.0.0/16 and IPv6 fe80::/10. */
export function isLinkLocal(address: string): boolean {
  const bare = address.split("%")[0] ?? "";
  if (ipFamily(bare) === 4) return bare.startsWith("169.254.");
  if (ipFamily(bare) === 6) {
    const first = Number.parseInt(bare.split(":")[0] || "0", 16);
    return (first & 0xffc0) === 0xfe80;
  }
  return false;
}

/** The address after `src` in the first line of `ip route get` output, or null. */
export function parseRouteSource(output: string): string | null {
  const tokens = (output.trim().split("\n")[0] ?? "").trim().split(/\s+/);
  const index = tokens.indexOf("src");
  const source = index >= 0 ? tokens[index + 1] : undefined;
  return source && ipFamily(source) ? source : null;
}

/** A and AAAA records of `host` (A first); empty when neither resolves. */
export async function resolveHost(host: string): Promise<string[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), DNS_TIMEOUT_MS);
  try {
    const results = await Promise.allSettled([
      Deno.resolveDns(host, "A", { signal: controller.signal }),
      Deno.resolveDns(host, "AAAA", { signal: controller.signal }),
    ]);
    return results.flatMap((r) => (r.status === "fulfilled" ? r.value : []));
  } finally {
    clearTimeout(timer);
  }
}

const ipAddrSchema = z.array(
  z.object({
    addr_info: z.array(z.object({ family: z.string(), local: z.string() }).loose()).catch([]),
  }).loose(),
);

async function interfaceIpv4(
  runner: Runner,
  iface: string,
  log: Logger,
): Promise<string | null> {
  try {
    const result = await runner.run("ip", ["-j", "-4", "addr", "show", "dev", iface], {
      timeoutMs: IP_TIMEOUT_MS,
    });
    const parsed = ipAddrSchema.safeParse(JSON.parse(result.stdout || "[]"));
    if (!parsed.success) return null;
    for (const link of parsed.data) {
      const inet = link.addr_info.find((a) => a.family === "inet" && ipFamily(a.local) === 4);
      if (inet) return inet.local;
    }
  } catch (err) {
    log.warn("Cannot read the addresses of network_interface", {
      interface: iface,
      error: err instanceof Error ? err.message : String(err),
    });
  }
  return null;
}

async function routeSource(runner: Runner, dest: string, log: Logger): Promise<string | null> {
  let output: string;
  try {
    output = (await runner.run("ip", ["route", "get", dest], { timeoutMs: IP_TIMEOUT_MS })).stdout;
  } catch (err) {
    log.warn("Cannot get a route to the Ironic API host", {
      dest,
      error: err instanceof Error ? err.message : String(err),
    });
    return null;
  }
  const source = parseRouteSource(output);
  if (source === null) {
    log.debug("No route source to the Ironic API host", { dest, route: output.trim() });
    return null;
  }
  if (isLinkLocal(source)) {
    log.info("Ignoring link-local route source", { dest, source });
    return null;
  }
  return source;
}

function urlHost(apiUrl: string): string | null {
  try {
    const host = new URL(apiUrl).hostname;
    return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host || null;
  } catch {
    return null;
  }
}

async function candidateAddresses(options: AdvertiseOptions, log: Logger): Promise<string[]> {
  const resolve = options.resolve ?? resolveHost;
  const out: string[] = [];
  for (const apiUrl of options.config.apiUrl) {
    const host = urlHost(apiUrl);
    if (host === null) {
      log.warn("Cannot take a host from the API URL", { url: apiUrl });
      continue;
    }
    if (options.isReachable && !(await options.isReachable(apiUrl))) {
      log.warn("Ironic API URL did not answer, not using it to find the advertise address", {
        url: apiUrl,
      });
      continue;
    }
    let addresses = [host];
    if (!ipFamily(host)) {
      try {
        const resolved = await resolve(host);
        if (resolved.length > 0) addresses = resolved;
      } catch (err) {
        log.debug("Cannot resolve the API host, using it as is", { host, error: String(err) });
      }
    }
    for (const address of addresses) if (!out.includes(address)) out.push(address);
  }
  return out;
}

/** Chooses the advertise host (spec 01 §7); throws `LookupAgentIPError` when none is found. */
export async function findAdvertiseHost(options: AdvertiseOptions): Promise<string> {
  const log = (options.logger ?? rootLog).with({ component: "advertise" });
  const { config, runner } = options;
  if (config.advertiseHost) return config.advertiseHost;
  if (config.networkInterface) {
    const address = await interfaceIpv4(runner, config.networkInterface, log);
    if (address) return address;
    throw new LookupAgentIPError(
      `Agent could not find a valid IP address: network_interface ` +
        `"${config.networkInterface}" has no IPv4 address`,
    );
  }
  const addresses = await candidateAddresses(options, log);
  const clock = options.clock ?? systemClock;
  const attempts = Math.max(1, config.ipLookupAttempts);
  for (let round = 1; addresses.length > 0 && round <= attempts; round++) {
    for (const dest of addresses) {
      const source = await routeSource(runner, dest, log);
      if (source) {
        log.info("Found the advertise address", { address: source, route_to: dest });
        return source;
      }
    }
    if (round < attempts) {
      await clock.sleep(config.ipLookupSleep * 1000, options.signal);
      if (options.signal?.aborted) throw options.signal.reason;
    }
  }
  throw new LookupAgentIPError(
    addresses.length === 0
      ? `Agent could not find a valid IP address: no usable Ironic API host in api_url ` +
        `"${config.apiUrl.join(",")}"`
      : `Agent could not find a valid IP address: no route source to ${addresses.join(", ")} ` +
        `after ${attempts} attempts`,
  );
}
