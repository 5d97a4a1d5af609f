/**
 * `net.isIP` without `node:net`: importing any `node:` module makes Deno set up its Node layer,
 * which costs the agent's start-up a large part of a second in an emulated ramdisk.
 */

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)";
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** 4 or 6 for an IPv4 or IPv6 address (with an optional `%zone`), otherwise 0, as `net.isIP`. */
export function ipFamily(text: string): 0 | 4 | 6 {
  if (IPV4.test(text)) return 4;
  const [address, zone] = text.split("%", 2) as [string, string | undefined];
  if (zone !== undefined && !/^[0-9a-zA-Z\-.:]+$/.test(zone)) return 0;
  if (!address.includes(":") || !/^[0-9a-fA-F:.]+$/.test(address)) return 0;
  try {
    // The WHATWG URL parser checks IPv6 syntax (groups, "::", an embedded IPv4 tail).
    new URL(`http://[${address}]/`);
    return 6;
  } catch {
    return 0;
  }
}
