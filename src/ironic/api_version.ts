/**
 * Ironic API microversions (spec 01 §3): parsing `"X.Y"`, comparing, and the constants IPA
 * hard-codes. Versions are compared numerically (`1.9 < 1.62`), never as strings.
 */

/** A microversion as `[major, minor]`. */
export type ApiVersion = readonly [major: number, minor: number];

/** Assumed when the server version cannot be determined (not cached). */
export const MIN_IRONIC_VERSION: ApiVersion = [1, 31];
/** `agent_version` is accepted in heartbeats from this version on. */
export const AGENT_VERSION_IRONIC_VERSION: ApiVersion = [1, 36];
/** Token generation on lookup; `agent_token` in heartbeats. */
export const AGENT_TOKEN_IRONIC_VERSION: ApiVersion = [1, 62];
/** `agent_verify_ca` in heartbeats (automatic TLS). */
export const AGENT_VERIFY_CA_IRONIC_VERSION: ApiVersion = [1, 68];

/** The highest version sent with a lookup. */
export const LOOKUP_MAX_VERSION: ApiVersion = AGENT_TOKEN_IRONIC_VERSION;
/** The highest version sent with a heartbeat. */
export const HEARTBEAT_MAX_VERSION: ApiVersion = AGENT_VERIFY_CA_IRONIC_VERSION;

/** Parses `"1.62"`; throws a `SyntaxError` naming the value otherwise. */
export function parseApiVersion(text: string): ApiVersion {
  const match = /^\s*(\d+)\.(\d+)\s*$/.exec(text);
  if (!match) throw new SyntaxError(`Invalid Ironic API version "${text}": expected "X.Y"`);
  return [Number(match[1]), Number(match[2])];
}

/** Negative when `a < b`, zero when equal, positive when `a > b`. */
export function compareApiVersions(a: ApiVersion, b: ApiVersion): number {
  return a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1];
}

/** True when `version >= required`. */
export function supportsApiVersion(version: ApiVersion, required: ApiVersion): boolean {
  return compareApiVersions(version, required) >= 0;
}

/** The lower of two versions. */
export function minApiVersion(a: ApiVersion, b: ApiVersion): ApiVersion {
  return compareApiVersions(a, b) <= 0 ? a : b;
}

/** `"X.Y"`, the form of the `X-OpenStack-Ironic-API-Version` header. */
export function formatApiVersion(version: ApiVersion): string {
  return `${version[0]}.${version[1]}`;
}
