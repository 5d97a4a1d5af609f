/**
 * One captured LLDP frame, from the text `tcpdump -xx` prints to the TLV list Ironic expects
 * (spec 05 §2): `[[tlv_type, "<hex of the TLV value>"], ...]`.
 *
 * tcpdump's hex dump is used rather than its `-w -` pcap output because the `Runner` hands
 * stdout back as text; the dump lines carry every byte of the frame including the Ethernet
 * header, so nothing depends on tcpdump's (version-specific) protocol decoding.
 */

/** `[tlv_type, hex]`, as `interfaces[].lldp` and `lldp_raw` carry them. */
export type LldpTlv = [number, string];

export const LLDP_ETHERTYPE = 0x88cc;
const ETHERNET_HEADER_BYTES = 14;
const TLV_END = 0;

/** tcpdump's output is not one well-formed Ethernet LLDP frame. */
export class LldpFrameError extends SyntaxError {
  override name = "LldpFrameError";
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The bytes of the first frame in `tcpdump -xx` output: the `\t0x0010:  0402 0000 ...` lines
 * under the frame's summary line. Offsets must follow each other, so a dump with lines missing
 * is refused instead of being parsed as a shorter frame; a second frame's lines are ignored.
 */
export function parseTcpdumpHex(stdout: string): Uint8Array {
  const bytes: number[] = [];
  for (const line of stdout.split("\n")) {
    const m = /^\s+0x([0-9a-f]+):\s+((?:[0-9a-f]{2,4}\s?)+)\s*$/i.exec(line);
    if (!m) {
      if (bytes.length > 0) break; // past the first frame's dump: one frame only
      continue;
    }
    const offset = parseInt(m[1]!, 16);
    if (offset !== bytes.length) {
      throw new LldpFrameError(
        `Cannot parse tcpdump output: hex line at offset 0x${m[1]} follows ${bytes.length} bytes`,
      );
    }
    for (const group of m[2]!.trim().split(/\s+/)) {
      for (let i = 0; i < group.length; i += 2) bytes.push(parseInt(group.slice(i, i + 2), 16));
    }
  }
  if (bytes.length === 0) {
    throw new LldpFrameError(
      `Cannot parse tcpdump output: no hex dump lines in ${JSON.stringify(stdout.slice(0, 200))}`,
    );
  }
  return new Uint8Array(bytes);
}

/**
 * TLVs of an Ethernet frame carrying LLDP: the 14-byte Ethernet header is stripped, then each
 * TLV has a 2-byte header (7-bit type, 9-bit length) and its value.
 *
 * Parsing stops after the End of LLDPDU TLV (type 0, which is kept, as IPA keeps it): the zeros
 * that pad a short frame to Ethernet's 60-byte minimum follow it and are not TLVs (IPA would
 * report each pair of padding bytes as another `[0, ""]`). A TLV whose length runs past the end
 * of the frame is kept with the bytes present, as IPA does, and `truncated` is set so the caller
 * can say so in the log.
 */
export function parseLldpFrame(frame: Uint8Array): { tlvs: LldpTlv[]; truncated: boolean } {
  if (frame.length < ETHERNET_HEADER_BYTES) {
    throw new LldpFrameError(
      `Cannot parse LLDP frame: ${frame.length} bytes is shorter than an Ethernet header`,
    );
  }
  const ethertype = (frame[12]! << 8) | frame[13]!;
  if (ethertype !== LLDP_ETHERTYPE) {
    throw new LldpFrameError(
      `Cannot parse LLDP frame: EtherType is 0x${ethertype.toString(16).padStart(4, "0")}, ` +
        `not 0x88cc`,
    );
  }
  const tlvs: LldpTlv[] = [];
  let pos = ETHERNET_HEADER_BYTES;
  let truncated = false;
  while (frame.length - pos >= 2) {
    const header = (frame[pos]! << 8) | frame[pos + 1]!;
    const type = header >> 9;
    const length = header & 0x1ff;
    const start = pos + 2;
    const end = start + length;
    if (end > frame.length) truncated = true;
    tlvs.push([type, hex(frame.subarray(start, Math.min(end, frame.length)))]);
    pos = end;
    if (type === TLV_END) break;
  }
  return { tlvs, truncated };
}
