/**
 * One `--hardware-managers` entry: a path or URL, optionally pinned by sha256 with a
 * `#sha256=<64 hex>` suffix (a URL fragment is never sent to the server, and it keeps a pin on one
 * kernel-parameter token: `ipa-hardware-managers=https://h/m.ts#sha256=...`).
 */
import { HardwareManagerConfigurationError } from "../api/errors.ts";

export interface ManagerSource {
  /** The entry as configured (shown in every error). */
  readonly source: string;
  /** The import specifier, without the pin. */
  readonly specifier: string;
  /** `host[:port]` for http(s) URLs: what the import grant must allow. */
  readonly host: string | null;
  /** Expected lower-case hex sha256 of the module text, when pinned. */
  readonly pin: string | null;
}

/** Resolves a path or URL to an import specifier (paths relative to the working dir). */
export function toSpecifier(location: string): string {
  if (/^(https?|file):\/\//.test(location)) return location;
  const path = location.startsWith("/") ? location : `${Deno.cwd()}/${location}`;
  return new URL(`file://${path}`).href;
}

export function parseManagerSource(source: string): ManagerSource {
  const hash = source.indexOf("#");
  const location = hash < 0 ? source : source.slice(0, hash);
  let pin: string | null = null;
  if (hash >= 0) {
    const m = /^sha256=([0-9a-fA-F]{64})$/.exec(source.slice(hash + 1));
    if (!m) {
      throw new HardwareManagerConfigurationError(
        `Hardware manager ${source} has a malformed pin: expected "#sha256=" and 64 hex digits`,
      );
    }
    pin = m[1]!.toLowerCase();
  }
  const specifier = toSpecifier(location);
  const url = new URL(specifier);
  const host = url.protocol === "http:" || url.protocol === "https:" ? url.host : null;
  return { source, specifier, host, pin };
}
