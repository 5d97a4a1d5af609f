/**
 * Detects image formats the raw streaming path must not write as bytes (qcow2, VMDK, VHD(X),
 * VDI, ISO-9660, compressed streams) from the image's first bytes. Until conversion lands
 * (TODO(#5)), such an image is refused before anything reaches the disk, whatever the conductor
 * declared: Ironic 29 sends `disk_format: null`, and a mislabelled image must never be written.
 */

/** Bytes needed to recognise every format below (ISO's "CD001" sits at 0x8001). */
export const SNIFF_BYTES = 0x8006;

const ascii = (text: string) => new TextEncoder().encode(text);

const SIGNATURES: { format: string; offset: number; magic: Uint8Array }[] = [
  { format: "qcow2", offset: 0, magic: new Uint8Array([0x51, 0x46, 0x49, 0xfb]) },
  { format: "vmdk", offset: 0, magic: ascii("KDMV") },
  { format: "vhd", offset: 0, magic: ascii("conectix") },
  { format: "vhdx", offset: 0, magic: ascii("vhdxfile") },
  { format: "vdi", offset: 0x40, magic: new Uint8Array([0x7f, 0x10, 0xda, 0xbe]) },
  { format: "iso", offset: 0x8001, magic: ascii("CD001") },
  { format: "gzip", offset: 0, magic: new Uint8Array([0x1f, 0x8b]) },
  { format: "xz", offset: 0, magic: new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { format: "zstd", offset: 0, magic: new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]) },
  { format: "bzip2", offset: 0, magic: ascii("BZh") },
];

/** The detected non-raw format, or "raw" (which includes GPT/MBR disk images). */
export function sniffFormat(head: Uint8Array): string {
  for (const { format, offset, magic } of SIGNATURES) {
    if (head.length < offset + magic.length) continue;
    if (magic.every((byte, i) => head[offset + i] === byte)) return format;
  }
  return "raw";
}

/**
 * Reads the first `SNIFF_BYTES` of `url` (a Range request; a server that ignores Range is cut
 * off after those bytes).
 */
export async function fetchImageHead(
  url: string,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const res = await fetch(url, {
    headers: { range: `bytes=0-${SNIFF_BYTES - 1}` },
    signal: options.signal ? AbortSignal.any([timeout, options.signal]) : timeout,
  });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status} reading the start of ${url}`);
  }
  const head = new Uint8Array(SNIFF_BYTES);
  let got = 0;
  const reader = res.body.getReader();
  try {
    while (got < SNIFF_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.length, SNIFF_BYTES - got);
      head.set(value.subarray(0, take), got);
      got += take;
    }
  } finally {
    await reader.cancel();
  }
  return head.subarray(0, got);
}
