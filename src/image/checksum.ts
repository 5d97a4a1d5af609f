/**
 * Which digest verifies an image, and against which expected value (spec 08 §5.1, IPA-master
 * rules). The expected value may have to be fetched from a checksum file; the caller passes
 * the fetch, so this module stays free of HTTP.
 */
import type { Hash } from "node:crypto";
import { nodeCrypto } from "../system/node_builtins.ts";
import { ImageChecksumError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { ImageInfo } from "./image_info.ts";
import { parseChecksumFile } from "./checksum_file.ts";

/**
 * Algorithm names as Glance and Python's `hashlib` spell them, mapped to `node:crypto` names.
 * IPA accepts anything `hashlib` knows; these are the fixed-length ones `node:crypto` has.
 */
const ALGORITHMS = {
  md5: "md5",
  sha1: "sha1",
  sha224: "sha224",
  sha256: "sha256",
  sha384: "sha384",
  sha512: "sha512",
  sha512_224: "sha512-224",
  sha512_256: "sha512-256",
  sha3_224: "sha3-224",
  sha3_256: "sha3-256",
  sha3_384: "sha3-384",
  sha3_512: "sha3-512",
  blake2b: "blake2b512",
  blake2s: "blake2s256",
} as const;

export type HashAlgorithm = keyof typeof ALGORITHMS;

/** Error for a checksum that cannot be used at all; retrying the download cannot help. */
export class UnusableChecksumError extends ImageChecksumError {}

/** The algorithm for a `hashlib`-style name (any case, "-" or "_"), or null if unknown. */
export function knownAlgorithm(name: string | null | undefined): HashAlgorithm | null {
  if (!name) return null;
  const lower = name.trim().toLowerCase();
  // "sha3-256" is sha3_256, "sha-256" is sha256.
  for (const key of [lower, lower.replaceAll("-", "_"), lower.replaceAll("-", "")]) {
    if (Object.hasOwn(ALGORITHMS, key)) return key as HashAlgorithm;
  }
  return null;
}

/** A streaming hash for `algorithm` (`update` as data arrives, `digest("hex")` at the end). */
export async function createHasher(algorithm: HashAlgorithm): Promise<Hash> {
  return (await nodeCrypto()).createHash(ALGORITHMS[algorithm]);
}

export interface AlgorithmOptions {
  md5Enabled: boolean;
}

/**
 * Spec 08 §5.1: the algorithm implied by the length of a hex digest: 128 → sha512,
 * 64 → sha256, 32 → md5 (only with `md5Enabled`).
 */
export function algorithmByLength(digest: string, options: AlgorithmOptions): HashAlgorithm {
  switch (digest.length) {
    case 128:
      return "sha512";
    case 64:
      return "sha256";
    case 32:
      if (!options.md5Enabled) {
        throw new UnusableChecksumError(
          `MD5 support is disabled: cannot verify the image with the 32-character checksum ` +
            `"${digest}"; use a SHA-256 or SHA-512 checksum or enable md5`,
        );
      }
      return "md5";
    default:
      throw new UnusableChecksumError(
        `Unable to determine the checksum algorithm of "${truncate(digest)}": a hex digest ` +
          `has 32 (MD5), 64 (SHA-256) or 128 (SHA-512) characters, this one has ${digest.length}`,
      );
  }
}

export function isChecksumUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

/** Hex digests compare case-insensitively (IPA compares lower-case hashlib output exactly). */
export function digestsMatch(expected: string, actual: string): boolean {
  return expected.trim().toLowerCase() === actual.trim().toLowerCase();
}

export interface ExpectedChecksum {
  algorithm: HashAlgorithm;
  /** Expected hex digest, lower case. */
  value: string;
  /** Where the value came from, for messages: "os_hash_value", "checksum" or a URL. */
  source: string;
}

export interface ResolveChecksumOptions extends AlgorithmOptions {
  /** GET a URL and return its body as text (same proxy, auth and TLS as the image). */
  fetchText(url: string): Promise<string>;
  log: Logger;
}

function truncate(text: string): string {
  return text.length > 140 ? `${text.slice(0, 140)}...` : text;
}

/** The basename of the first image URL's path: the name to look for in a checksum file. */
export function expectedFileName(info: ImageInfo): string {
  const first = info.urls[0] ?? "";
  try {
    const path = new URL(first).pathname;
    return path.slice(path.lastIndexOf("/") + 1);
  } catch {
    return "";
  }
}

async function fetchDigest(
  url: string,
  info: ImageInfo,
  options: ResolveChecksumOptions,
): Promise<string> {
  options.log.debug("Downloading checksum file", { url });
  const text = await options.fetchText(url);
  return parseChecksumFile(text, { url, expectedName: expectedFileName(info) });
}

/**
 * Spec 08 §5.1: picks the algorithm and the expected digest for an image, fetching checksum
 * files where the value is a URL. Throws `UnusableChecksumError` when no usable pair exists, and
 * `ImageDownloadError` when a checksum file cannot be fetched or read.
 */
export async function resolveChecksum(
  info: ImageInfo,
  options: ResolveChecksumOptions,
): Promise<ExpectedChecksum> {
  const named = knownAlgorithm(info.os_hash_algo);
  if (info.os_hash_algo && !named) {
    options.log.warn("Image os_hash_algo is not supported here; using the checksum field", {
      os_hash_algo: info.os_hash_algo,
    });
  }
  let algorithm: HashAlgorithm;
  let value: string;
  let source: string;
  if (named && info.os_hash_value) {
    algorithm = named;
    value = info.os_hash_value;
    source = "os_hash_value";
    if (isChecksumUrl(value)) {
      source = value;
      value = await fetchDigest(value, info, options);
    }
  } else if (info.checksum && isChecksumUrl(info.checksum)) {
    source = info.checksum;
    value = await fetchDigest(info.checksum, info, options);
    algorithm = algorithmByLength(value, options);
  } else if (info.checksum) {
    source = "checksum";
    value = info.checksum;
    algorithm = algorithmByLength(value, options);
  } else {
    throw new UnusableChecksumError(
      `Unable to verify image ${info.id} with available checksums. Please make sure the ` +
        `specified 'os_hash_algo' (currently ${info.os_hash_algo ?? null}) is supported by ` +
        `this ramdisk, or provide a checksum via the 'checksum' field`,
    );
  }
  warnOnLengthMismatch(algorithm, value, options.log);
  return { algorithm, value: value.trim().toLowerCase(), source };
}

const SHA2_BY_LENGTH: Record<number, HashAlgorithm> = { 64: "sha256", 96: "sha384", 128: "sha512" };

/** IPA only warns when os_hash_algo and the digest length disagree; the digest check decides. */
function warnOnLengthMismatch(algorithm: HashAlgorithm, value: string, log: Logger): void {
  const implied = SHA2_BY_LENGTH[value.trim().length];
  const isSha2 = algorithm === "sha256" || algorithm === "sha384" || algorithm === "sha512";
  if (isSha2 && implied && implied !== algorithm) {
    log.warn("The expected digest length suggests a different algorithm than os_hash_algo", {
      os_hash_algo: algorithm,
      implied,
    });
  }
}
