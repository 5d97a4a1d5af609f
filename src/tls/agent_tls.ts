/**
 * Which of the three TLS modes of spec 01 §8 the agent API uses, and the material for it:
 *
 * - static: `listen_tls` with `tls_cert_file` + `tls_key_file`; no `agent_verify_ca` is sent,
 *   the callback URL keeps `advertise_protocol` (the operator sets it to `https`, as in IPA);
 * - automatic: `enable_auto_tls` (default on), no `listen_tls`, and Ironic accepts
 *   `agent_verify_ca` (API ≥ 1.68): a fresh self-signed certificate for the advertise address,
 *   `https` in the callback URL, the PEM sent on every heartbeat;
 * - plain HTTP otherwise.
 *
 * Deno's TLS server (rustls) speaks TLS 1.2 and 1.3 with AEAD cipher suites only, which is what
 * `tls_min_version=1.2` and the default `tls_cipher_suites` ask for; it has no knob to narrow
 * that further, so a stricter `tls_min_version=1.3` or a custom cipher list is logged as not
 * enforceable rather than silently ignored.
 */
import { ConfigError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { type CertificateCurve, generateSelfSignedCertificate } from "./self_signed.ts";

export interface TlsSettings {
  listenTls: boolean;
  tlsCertFile: string | null;
  tlsKeyFile: string | null;
  enableAutoTls: boolean;
  autoTlsAllowedClockSkew: number;
  tlsCertificateCurve: CertificateCurve;
  tlsMinVersion: "1.2" | "1.3";
  tlsCipherSuites: string | null;
  advertiseProtocol: "http" | "https";
  stateDir: string;
}

export interface AgentTls {
  mode: "plain" | "static" | "auto";
  /** Scheme of the callback URL. */
  protocol: "http" | "https";
  /** PEM certificate and key for `Deno.serve`, absent in plain mode. */
  serve: { cert: string; key: string } | null;
  /** The PEM to send as `agent_verify_ca` (automatic mode only). */
  verifyCa: string | null;
}

function readPem(path: string | null, option: string): string {
  if (!path) {
    throw new ConfigError(
      `Cannot serve the agent API over TLS: listen_tls is set but ${option} is not`,
    );
  }
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    throw new ConfigError(
      `Cannot serve the agent API over TLS: cannot read ${option} "${path}": ${
        (err as Error).message
      }`,
      { cause: err },
    );
  }
}

function warnUnenforceable(settings: TlsSettings, log: Logger): void {
  if (settings.tlsMinVersion === "1.3" || settings.tlsCipherSuites) {
    log.warn(
      "the agent's TLS server offers TLS 1.2 and 1.3 with AEAD ciphers only; Deno cannot narrow " +
        "it to tls_min_version/tls_cipher_suites",
      { tls_min_version: settings.tlsMinVersion, tls_cipher_suites: settings.tlsCipherSuites },
    );
  }
}

/** Static TLS from `listen_tls`, or null. Read before the API starts, so a bad path stops start-up. */
export function staticTls(settings: TlsSettings, log: Logger): AgentTls | null {
  if (!settings.listenTls) return null;
  const serve = {
    cert: readPem(settings.tlsCertFile, "tls_cert_file"),
    key: readPem(settings.tlsKeyFile, "tls_key_file"),
  };
  if (settings.advertiseProtocol !== "https") {
    log.warn("listen_tls is set but advertise_protocol is not https; Ironic will call http://", {
      advertise_protocol: settings.advertiseProtocol,
    });
  }
  warnUnenforceable(settings, log);
  return { mode: "static", protocol: settings.advertiseProtocol, serve, verifyCa: null };
}

export interface ChooseTlsOptions {
  settings: TlsSettings;
  /** The advertise address the certificate is issued for. */
  advertiseHost: string;
  /** Whether Ironic accepts `agent_verify_ca` (API ≥ 1.68). */
  autoTlsSupported: () => Promise<boolean>;
  log: Logger;
  /** Subject name; default `Deno.hostname()`. */
  commonName?: string;
  /** A key pair generated ahead (`generateCertificateKeys(settings.tlsCertificateCurve)`). */
  keys?: Promise<CryptoKeyPair>;
}

/** Chooses the mode and prepares its material; writes agent.crt/agent.key in the state dir. */
export async function chooseTls(options: ChooseTlsOptions): Promise<AgentTls> {
  const { settings, log } = options;
  const fixed = staticTls(settings, log);
  if (fixed) return fixed;
  const plain: AgentTls = {
    mode: "plain",
    protocol: settings.advertiseProtocol,
    serve: null,
    verifyCa: null,
  };
  if (!settings.enableAutoTls) return plain;
  if (!(await options.autoTlsSupported())) {
    log.info("Ironic does not support automatic TLS (API < 1.68); serving plain HTTP");
    return plain;
  }
  const cert = await generateSelfSignedCertificate({
    host: options.advertiseHost,
    commonName: options.commonName ?? Deno.hostname(),
    curve: settings.tlsCertificateCurve,
    clockSkewSeconds: settings.autoTlsAllowedClockSkew,
    keys: options.keys,
  });
  await Deno.mkdir(settings.stateDir, { recursive: true });
  await Deno.writeTextFile(`${settings.stateDir}/agent.key`, cert.keyPem, { mode: 0o600 });
  await Deno.writeTextFile(`${settings.stateDir}/agent.crt`, cert.certPem);
  warnUnenforceable(settings, log);
  log.info("automatic TLS: generated a self-signed certificate", {
    host: options.advertiseHost,
    curve: settings.tlsCertificateCurve,
    not_before: cert.notBefore.toISOString(),
    not_after: cert.notAfter.toISOString(),
    certificate: `${settings.stateDir}/agent.crt`,
  });
  return {
    mode: "auto",
    protocol: "https",
    serve: { cert: cert.certPem, key: cert.keyPem },
    verifyCa: cert.certPem,
  };
}
