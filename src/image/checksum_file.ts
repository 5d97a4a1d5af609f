/**
 * Reading the expected digest out of a checksum file (spec 08 §5.2, IPA-master rules):
 * GNU `sha256sum` style (`<digest>  [*]<name>`), BSD style (`SHA256 (<name>) = <digest>`),
 * `#` comments, or a file holding one bare digest.
 */
import { ImageDownloadError } from "../api/errors.ts";

export interface ChecksumFileOptions {
  /** The checksum file's URL, for messages. */
  url: string;
  /** The image's file name (basename of the first image URL's path). */
  expectedName: string;
}

const DIGEST = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128})$/;
const LEADING_DIGEST = /^([0-9a-fA-F]+)\s/;
const TRAILING_DIGEST = /\s([0-9a-fA-F]+)$/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function failure(url: string, reason: string): ImageDownloadError {
  return new ImageDownloadError(`Download of image ${url} failed: ${reason}`);
}

/** The names a line may use for the image: as in the URL, and percent-decoded. */
function candidateNames(expectedName: string): string[] {
  const names = [expectedName];
  try {
    const decoded = decodeURIComponent(expectedName);
    if (decoded !== expectedName) names.push(decoded);
  } catch {
    // Not valid percent-encoding: only the literal name can match.
  }
  return names;
}

function refersTo(line: string, names: readonly string[]): boolean {
  return names.some((name) => {
    const n = escapeRegExp(name);
    return new RegExp(`\\s\\*?${n}$`).test(line) || new RegExp(`\\s\\(${n}\\)\\s`).test(line);
  });
}

/** A 32/64/128-hex token at the start (followed by space) or end (preceded by space). */
function digestOnLine(line: string): string | null {
  for (const pattern of [LEADING_DIGEST, TRAILING_DIGEST]) {
    const token = pattern.exec(line)?.[1];
    if (token && DIGEST.test(token)) return token;
  }
  return null;
}

/**
 * The digest the checksum file gives for the image. Throws `ImageDownloadError` for an empty or
 * invalid file, or one that does not name the image.
 */
export function parseChecksumFile(text: string, options: ChecksumFileOptions): string {
  const lines = text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "");
  if (lines.length === 0) throw failure(options.url, "Empty checksum file");
  const only = lines[0];
  if (lines.length === 1 && only !== undefined && !/\s/.test(only)) {
    if (DIGEST.test(only)) return only;
    throw failure(
      options.url,
      `Invalid checksum file: "${only.slice(0, 140)}" is not a 32, 64 or 128 character ` +
        `hex digest`,
    );
  }
  const names = candidateNames(options.expectedName);
  for (const line of lines) {
    if (line.startsWith("#") || !refersTo(line, names)) continue;
    const digest = digestOnLine(line);
    if (digest) return digest;
    throw failure(
      options.url,
      `Invalid checksum file: the line for ${options.expectedName} has no 32, 64 or 128 ` +
        `character hex digest: "${line.slice(0, 200)}"`,
    );
  }
  throw failure(options.url, `Checksum file does not contain name ${options.expectedName}`);
}
