/**
 * The automatic-TLS certificate (spec 01 §8): a self-signed ECDSA certificate for the advertise
 * address, built with WebCrypto and a small DER encoder instead of running `openssl`, so the
 * private key never leaves the process except into the agent's state dir, and no tool is added
 * to the agent's `--allow-run` grant.
 *
 * Fields: subject = issuer = `CN=<hostname>`, random positive 127-bit serial, one critical
 * SubjectAlternativeName (`iPAddress` for an IP literal, `dNSName` otherwise), validity from
 * `now - clockSkew` to `now + validityDays`, signature `ecdsa-with-SHA512` whatever the curve
 * (as IPA-master does). The key is PKCS#8 PEM, unencrypted, which `Deno.serve` accepts.
 */
import { parseIpAddress } from "../system/ip_address.ts";
import {
  bitString,
  boolean,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from "./der.ts";

export type CertificateCurve = "p256" | "p384" | "p521";

export interface SelfSignedOptions {
  /** The advertise address: an IPv4/IPv6 literal (brackets allowed) or a host name. */
  host: string;
  /** Subject and issuer common name. */
  commonName: string;
  /** Default `p384`. */
  curve?: CertificateCurve;
  /** Seconds `notBefore` is moved back (`auto_tls_allowed_clock_skew`); default 3600. */
  clockSkewSeconds?: number;
  /** Default 90. */
  validityDays?: number;
  /** The current time (tests). */
  now?: Date;
  /** A key pair made earlier by `generateCertificateKeys(curve)` (same curve); default a fresh one. */
  keys?: Promise<CryptoKeyPair>;
}

export interface SelfSignedCertificate {
  certPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

const NAMED_CURVES: Record<CertificateCurve, string> = {
  p256: "P-256",
  p384: "P-384",
  p521: "P-521",
};
const OID_COMMON_NAME = "2.5.4.3";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_ECDSA_WITH_SHA512 = "1.2.840.10045.4.3.4";
const DAY_MS = 86_400_000;

function pem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const byte of der) binary += String.fromCharCode(byte);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** WebCrypto's ECDSA signature is r‖s (IEEE P1363); X.509 wants `SEQUENCE {r, s}`. */
function p1363ToDer(signature: Uint8Array): Uint8Array {
  const half = signature.length / 2;
  return sequence(
    unsignedInteger(signature.subarray(0, half)),
    unsignedInteger(signature.subarray(half)),
  );
}

function name(commonName: string): Uint8Array {
  return sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(commonName))));
}

function subjectAltName(host: string): Uint8Array {
  const ip = parseIpAddress(host);
  const general = ip
    ? implicitPrimitive(7, ip)
    : implicitPrimitive(2, new TextEncoder().encode(host)); // dNSName
  return sequence(oid(OID_SUBJECT_ALT_NAME), boolean(true), octetString(sequence(general)));
}

/** Generates an exportable ECDSA key pair on `curve` for a certificate. */
export async function generateCertificateKeys(curve: CertificateCurve): Promise<CryptoKeyPair> {
  const namedCurve = NAMED_CURVES[curve];
  if (!namedCurve) throw new RangeError(`Cannot generate a certificate: unknown curve "${curve}"`);
  return await crypto.subtle.generateKey({ name: "ECDSA", namedCurve }, true, ["sign", "verify"]);
}

/** Generates the certificate for `options.host`, with a fresh key pair unless given one. */
export async function generateSelfSignedCertificate(
  options: SelfSignedOptions,
): Promise<SelfSignedCertificate> {
  const curve = options.curve ?? "p384";
  if (!options.host) throw new RangeError("Cannot generate a certificate: the host is empty");
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - (options.clockSkewSeconds ?? 3600) * 1000);
  const notAfter = new Date(now.getTime() + (options.validityDays ?? 90) * DAY_MS);

  const keys = await (options.keys ?? generateCertificateKeys(curve));
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and never zero (RFC 5280 §4.1.2.2)
  const algorithm = sequence(oid(OID_ECDSA_WITH_SHA512));

  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    algorithm,
    name(options.commonName),
    sequence(time(notBefore), time(notAfter)),
    name(options.commonName),
    spki,
    explicit(3, sequence(subjectAltName(options.host))),
  );
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-512" }, keys.privateKey, tbs),
  );
  const certificate = sequence(tbs, algorithm, bitString(p1363ToDer(signature)));
  return {
    certPem: pem("CERTIFICATE", certificate),
    keyPem: pem("PRIVATE KEY", pkcs8),
    notBefore,
    notAfter,
  };
}
