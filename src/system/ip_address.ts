/**
 * IP address literals, parsed without `node:net` (importing any `node:` module makes Deno set up
 * its Node layer, most of a second of an emulated ramdisk's start-up).
 */

/** 4 bytes for an IPv4 literal, 16 for IPv6 (brackets and a `%zone` are dropped), else null. */
export function parseIpAddress(text: string): Uint8Array | null {
  const host = text.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const bytes = v4.slice(1).map(Number);
    return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : null;
  }
  if (!host.includes(":") || !/^[0-9a-fA-F:.]+$/.test(host)) return null;
  const halves = host.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (piece.includes(".") && i === pieces.length - 1) {
        const tail = parseIpAddress(piece);
        if (!tail || tail.length !== 4) return null;
        out.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** 4 or 6 for an IPv4 or IPv6 literal (as `parseIpAddress` reads them), otherwise 0. */
export function ipFamily(text: string): 0 | 4 | 6 {
  const bytes = parseIpAddress(text);
  return bytes === null ? 0 : bytes.length === 4 ? 4 : 6;
}
