/**
 * Format inspection of an image's first bytes (spec 08 §6.1), done on the download stream before
 * anything reaches the disk: detect the format, run its safety checks, then check it against the
 * permitted formats and the format the conductor declared.
 *
 * Detection follows oslo.utils' format inspector. Compression wrappers (gzip, xz, zstd: beyond
 * IPA) are reported as such; the caller inspects the decompressed content again.
 */
import { InvalidImage } from "../api/errors.ts";

/** Bytes needed to recognise every format below (ISO's "CD001" sits at 0x8001). */
export const INSPECT_BYTES = 0x8006;

export const COMPRESSIONS = ["gzip", "xz", "zstd"] as const;
export type Compression = typeof COMPRESSIONS[number];

const ascii = (text: string) => new TextEncoder().encode(text);

const SIGNATURES: { format: string; offset: number; magic: Uint8Array }[] = [
  { format: "qcow2", offset: 0, magic: new Uint8Array([0x51, 0x46, 0x49, 0xfb]) },
  { format: "qed", offset: 0, magic: new Uint8Array([0x51, 0x45, 0x44, 0x00]) },
  { format: "vmdk", offset: 0, magic: ascii("KDMV") },
  { format: "vhd", offset: 0, magic: ascii("conectix") },
  { format: "vhdx", offset: 0, magic: ascii("vhdxfile") },
  { format: "vdi", offset: 0x40, magic: new Uint8Array([0x7f, 0x10, 0xda, 0xbe]) },
  { format: "luks", offset: 0, magic: new Uint8Array([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]) },
  { format: "iso", offset: 0x8001, magic: ascii("CD001") },
  { format: "gzip", offset: 0, magic: new Uint8Array([0x1f, 0x8b]) },
  { format: "xz", offset: 0, magic: new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { format: "zstd", offset: 0, magic: new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]) },
];

export interface Qcow2Header {
  version: number;
  backingFileOffset: bigint;
  clusterBits: number;
  virtualSize: number;
  l1Size: number;
  l1TableOffset: number;
  incompatibleFeatures: bigint;
  /** Compression type byte (v3 header ≥ 105 bytes): 0 = deflate, 1 = zstd. */
  compressionType: number;
}

/** qcow2 v3 incompatible feature bits this agent knows (dirty, corrupt, data file, compression). */
const QCOW2_KNOWN_INCOMPATIBLE = 0xfn;
export const QCOW2_EXTERNAL_DATA_FILE = 0x4n;

export function parseQcow2Header(head: Uint8Array): Qcow2Header {
  if (head.length < 104) {
    throw new InvalidImage(`qcow2 header is truncated: ${head.length} bytes, need 104`);
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = view.getUint32(4);
  const headerLength = version >= 3 ? view.getUint32(100) : 72;
  return {
    version,
    backingFileOffset: view.getBigUint64(8),
    clusterBits: view.getUint32(20),
    virtualSize: Number(view.getBigUint64(24)),
    l1Size: view.getUint32(36),
    l1TableOffset: Number(view.getBigUint64(40)),
    incompatibleFeatures: version >= 3 ? view.getBigUint64(72) : 0n,
    compressionType: version >= 3 && headerLength >= 105 && head.length > 104 ? head[104]! : 0,
  };
}

/** oslo's qcow2 safety checks: the reason the image is unsafe, or null. */
export function qcow2Unsafe(header: Qcow2Header): string | null {
  if (header.backingFileOffset !== 0n) return "qcow2 image has a backing file";
  if (header.version !== 2 && header.version !== 3) {
    return `qcow2 version ${header.version} is not 2 or 3`;
  }
  if (header.incompatibleFeatures & QCOW2_EXTERNAL_DATA_FILE) {
    return "qcow2 image has an external data file";
  }
  const unknown = header.incompatibleFeatures & ~QCOW2_KNOWN_INCOMPATIBLE;
  if (unknown) return `qcow2 image has unknown incompatible features 0x${unknown.toString(16)}`;
  return null;
}

/** A DOS/MBR boot sector that is really a FAT file system's boot sector. */
function isFatBootSector(head: Uint8Array): boolean {
  return head[0x10] === 2 && head[0x15] === 0xf8;
}

function hasMbrSignature(head: Uint8Array): boolean {
  return head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa;
}

/** oslo's GPT/MBR checks on the partition entries: the reason the table is unsafe, or null. */
export function mbrUnsafe(head: Uint8Array): string | null {
  const entries = [0, 1, 2, 3].map((i) => head.subarray(446 + 16 * i, 446 + 16 * (i + 1)));
  let used = 0;
  let protective = false;
  for (const entry of entries) {
    if (entry[0] !== 0x00 && entry[0] !== 0x80) {
      return `MBR partition entry has invalid boot flag 0x${entry[0]!.toString(16)}`;
    }
    if (entry[4] !== 0) used++;
    if (entry[4] === 0xee) {
      protective = true;
      const lba = new DataView(entry.buffer, entry.byteOffset).getUint32(8, true);
      if (entry[1] !== 0x00 || entry[2] !== 0x02 || entry[3] !== 0x00 || lba !== 1) {
        return "GPT protective MBR entry does not start at LBA 1";
      }
    }
  }
  if (used === 0) return "MBR has no partition entries";
  if (protective && used > 1) return "GPT protective MBR entry is not the only entry";
  return null;
}

/** Every format whose signature matches `head` ("gpt" for an MBR that is no FAT boot sector). */
export function detectFormats(head: Uint8Array): string[] {
  const found: string[] = [];
  for (const { format, offset, magic } of SIGNATURES) {
    if (head.length < offset + magic.length) continue;
    if (magic.every((byte, i) => head[offset + i] === byte)) found.push(format);
  }
  if (hasMbrSignature(head) && !isFatBootSector(head)) found.push("gpt");
  return found;
}

export interface Inspection {
  /** raw, gpt, qcow2, iso, gzip, xz, zstd, vmdk, ... */
  format: string;
  /** qcow2 header, when `format` is qcow2. */
  qcow2?: Qcow2Header;
}

export interface InspectOptions {
  /** `disable_deep_image_inspection`: detect only, no safety checks. */
  deep: boolean;
}

/**
 * Detects the format of `head` and runs its safety checks. Throws `InvalidImage` on several
 * matches or a failed check.
 */
export function inspectHead(head: Uint8Array, options: InspectOptions): Inspection {
  let found = detectFormats(head);
  // A hybrid ISO carries an MBR so it can boot from a USB stick: it is an ISO.
  if (found.includes("iso")) found = found.filter((f) => f !== "gpt");
  if (found.length > 1) {
    throw new InvalidImage(`Image matched multiple potential formats: ${found.join(", ")}`);
  }
  const format = found[0] ?? "raw";
  if (format === "qcow2") {
    const qcow2 = parseQcow2Header(head);
    const reason = qcow2Unsafe(qcow2);
    // The stream reader cannot follow a backing or data file, so those are refused regardless.
    if (reason && (options.deep || qcow2.backingFileOffset !== 0n || reason.includes("data"))) {
      throw new InvalidImage(`Image failed safety check: ${reason}`);
    }
    return { format, qcow2 };
  }
  if (options.deep) {
    if (format === "qed") throw new InvalidImage("Image failed safety check: QED is banned");
    if (format === "luks" && (head[6] !== 0 || head[7] !== 1)) {
      throw new InvalidImage("Image failed safety check: only LUKS version 1 is allowed");
    }
    if (format === "gpt") {
      const reason = mbrUnsafe(head);
      if (reason) throw new InvalidImage(`Image failed safety check: ${reason}`);
    }
  }
  return { format };
}

/** `raw` and `gpt` are written the same way: one stands for the other (spec 08 §6.1). */
function sameFamily(a: string, b: string): boolean {
  const bytes = new Set(["raw", "gpt"]);
  return a === b || (bytes.has(a) && bytes.has(b));
}

export interface FormatPolicy {
  /** The conductor's `disk_format` (null or "unknown": not declared). */
  declared: string | null | undefined;
  /** `permitted_image_formats` from lookup or configuration. */
  permitted: readonly string[];
  /** Inner format of a compressed image, described in messages as "gzip-compressed raw". */
  compression?: Compression;
}

/**
 * Refuses a detected format that is not permitted or not the declared one. A detected `gpt` is
 * accepted whenever `raw` is permitted: it is written exactly like raw.
 */
export function checkFormatPolicy(detected: string, policy: FormatPolicy): void {
  const what = policy.compression ? `${policy.compression}-compressed ${detected}` : detected;
  const allowed = policy.permitted.includes(detected) ||
    (detected === "gpt" && policy.permitted.includes("raw"));
  if (!allowed) {
    throw new InvalidImage(
      `Detected image format was ${what}, but only ${policy.permitted.join(", ")} are allowed`,
    );
  }
  const declared = policy.declared;
  if (declared && declared !== "unknown" && !sameFamily(declared, detected)) {
    throw new InvalidImage(`Expected format was ${declared}, but image was actually ${what}`);
  }
}
