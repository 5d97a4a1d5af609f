/**
 * SHA-256 crypt (`$5$`, Ulrich Drepper's "Unix crypt using SHA-256"), the hash IPA writes for a
 * plain rescue password (`crypt.crypt(password, crypt.mksalt(crypt.METHOD_SHA256))`, spec 03 §6)
 * and the one Ironic sends by default (`[conductor]rescue_password_hash_algorithm = sha256`).
 * Checked against glibc's output in testdata/rescue/.
 */
import { nodeCrypto } from "../system/node_builtins.ts";

type CreateHash = typeof import("node:crypto").createHash;

const ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const DEFAULT_ROUNDS = 5000;
const MIN_ROUNDS = 1000;
const MAX_ROUNDS = 999_999_999;
const SALT_MAX = 16;

/** Byte order of the final encoding (the algorithm's fixed permutation). */
const ORDER: readonly [number, number, number][] = [
  [0, 10, 20],
  [21, 1, 11],
  [12, 22, 2],
  [3, 13, 23],
  [24, 4, 14],
  [15, 25, 5],
  [6, 16, 26],
  [27, 7, 17],
  [18, 28, 8],
  [9, 19, 29],
];

function sha256(createHash: CreateHash, ...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return new Uint8Array(hash.digest());
}

/** `length` bytes of `block` repeated. */
function repeatTo(block: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += block.length) {
    out.set(block.subarray(0, Math.min(block.length, length - i)), i);
  }
  return out;
}

function encode24(b2: number, b1: number, b0: number, chars: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = "";
  for (let i = 0; i < chars; i++) {
    out += ALPHABET[w & 0x3f];
    w >>= 6;
  }
  return out;
}

/**
 * Hashes `password` with `setting` (`$5$salt` or `$5$rounds=N$salt`, a trailing `$hash` is
 * ignored, as crypt(3) does), returning the full `$5$...` string.
 */
export async function sha256Crypt(password: string, setting: string): Promise<string> {
  const match = /^\$5\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!match) {
    throw new SyntaxError(`Cannot hash with setting "${setting}": it is not a "$5$" setting`);
  }
  const explicitRounds = match[1] !== undefined;
  const rounds = explicitRounds
    ? Math.min(MAX_ROUNDS, Math.max(MIN_ROUNDS, Number(match[1])))
    : DEFAULT_ROUNDS;
  const saltText = match[2]!.slice(0, SALT_MAX);
  const { createHash } = await nodeCrypto();
  const text = new TextEncoder();
  const p = text.encode(password);
  const s = text.encode(saltText);

  const b = sha256(createHash, p, s, p);
  const a = createHash("sha256");
  a.update(p);
  a.update(s);
  a.update(repeatTo(b, p.length));
  for (let i = p.length; i > 0; i >>= 1) a.update(i & 1 ? b : p);
  let c = new Uint8Array(a.digest());

  const dp = createHash("sha256");
  for (let i = 0; i < p.length; i++) dp.update(p);
  const pSeq = repeatTo(new Uint8Array(dp.digest()), p.length);
  const ds = createHash("sha256");
  for (let i = 0; i < 16 + c[0]!; i++) ds.update(s);
  const sSeq = repeatTo(new Uint8Array(ds.digest()), s.length);

  for (let r = 0; r < rounds; r++) {
    const h = createHash("sha256");
    h.update(r & 1 ? pSeq : c);
    if (r % 3) h.update(sSeq);
    if (r % 7) h.update(pSeq);
    h.update(r & 1 ? c : pSeq);
    c = new Uint8Array(h.digest());
  }

  let encoded = "";
  for (const [x, y, z] of ORDER) encoded += encode24(c[x]!, c[y]!, c[z]!, 4);
  encoded += encode24(0, c[31]!, c[30]!, 3);
  const prefix = explicitRounds ? `$5$rounds=${rounds}$` : "$5$";
  return `${prefix}${saltText}$${encoded}`;
}

/** A random 16-character salt from the crypt alphabet. */
export function randomSalt(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SALT_MAX));
  return Array.from(bytes, (byte) => ALPHABET[byte & 0x3f]).join("");
}

/** `$5$<random salt>$<hash>` of `password`. */
export function hashPassword(password: string): Promise<string> {
  return sha256Crypt(password, `$5$${randomSalt()}`);
}
