/**
 * The few DER (X.690) encodings an X.509 certificate needs. Each function returns one complete
 * TLV; `sequence` and friends concatenate already-encoded children. Only what
 * `self_signed.ts` uses is here, so every branch is exercised by its tests.
 */

import { concat } from "../system/bytes.ts";

function lengthBytes(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** One TLV with tag `tag` around `content`. */
export function tlv(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const head = [tag, ...lengthBytes(content.length)];
  const out = new Uint8Array(head.length + content.length);
  out.set(head);
  out.set(content, head.length);
  return out;
}

export function sequence(...children: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return tlv(0x30, concat(children));
}

export function set(...children: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return tlv(0x31, concat(children));
}

/** `[n]` EXPLICIT, constructed context-specific tag. */
export function explicit(n: number, child: Uint8Array): Uint8Array<ArrayBuffer> {
  return tlv(0xa0 | n, child);
}

/** `[n]` IMPLICIT, primitive context-specific tag (GeneralName's iPAddress is `[7]`). */
export function implicitPrimitive(n: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  return tlv(0x80 | n, content);
}

/** A non-negative INTEGER from big-endian magnitude bytes (leading zeros trimmed, sign byte added). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array<ArrayBuffer> {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const needsPad = trimmed.length === 0 || (trimmed[0]! & 0x80) !== 0;
  return tlv(0x02, needsPad ? concat([new Uint8Array([0]), trimmed]) : trimmed);
}

export function smallInteger(value: number): Uint8Array<ArrayBuffer> {
  if (!Number.isInteger(value) || value < 0 || value > 127) {
    throw new RangeError(`Cannot encode INTEGER ${value}: only 0..127 is supported`);
  }
  return tlv(0x02, new Uint8Array([value]));
}

export function boolean(value: boolean): Uint8Array<ArrayBuffer> {
  return tlv(0x01, new Uint8Array([value ? 0xff : 0x00]));
}

export function octetString(content: Uint8Array): Uint8Array<ArrayBuffer> {
  return tlv(0x04, content);
}

/** BIT STRING with no unused bits. */
export function bitString(content: Uint8Array): Uint8Array<ArrayBuffer> {
  return tlv(0x03, concat([new Uint8Array([0]), content]));
}

export function utf8String(text: string): Uint8Array<ArrayBuffer> {
  return tlv(0x0c, new TextEncoder().encode(text));
}

/** OBJECT IDENTIFIER from dotted text, e.g. "2.5.4.3". */
export function oid(dotted: string): Uint8Array<ArrayBuffer> {
  const arcs = dotted.split(".").map((a) => {
    if (!/^\d+$/.test(a)) throw new SyntaxError(`Cannot encode OID "${dotted}": arc "${a}"`);
    return Number(a);
  });
  if (arcs.length < 2) throw new SyntaxError(`Cannot encode OID "${dotted}": too few arcs`);
  const bytes: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) {
      chunk.unshift(0x80 | (n & 0x7f));
    }
    bytes.push(...chunk);
  }
  return tlv(0x06, new Uint8Array(bytes));
}

/** X.509 Time: UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5). */
export function time(date: Date): Uint8Array<ArrayBuffer> {
  const iso = date.toISOString(); // 2026-11-25T10:20:30.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ""); // 20261125102030
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) {
    throw new RangeError(`Cannot encode certificate time ${iso}: year out of range`);
  }
  const text = year < 2050 ? `${digits.slice(2)}Z` : `${digits}Z`;
  return tlv(year < 2050 ? 0x17 : 0x18, new TextEncoder().encode(text));
}
