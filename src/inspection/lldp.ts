/**
 * The `lldp` collector (spec 06 §3) is not supported. IPA captures LLDP frames by opening an
 * `AF_PACKET` raw socket on every interface and reading ethertype 0x88cc for `lldp_timeout`
 * seconds. Deno has no raw or packet sockets (`Deno.listenDatagram` speaks UDP and Unix
 * sockets only, and there is no FFI in the agent's permission set), so the agent cannot
 * capture those frames itself. Rather than send an empty `lldp_raw` that looks like "no
 * neighbours", the collector fails with this error; the inspection data then carries it in
 * `error` and every other collector's data is still posted.
 */

export const LLDP_UNSUPPORTED = 'The "lldp" inspection collector is not supported by this ' +
  "agent: capturing LLDP frames needs an AF_PACKET raw socket, which Deno cannot open, so " +
  'lldp_raw is not reported. Remove "lldp" from ipa-inspection-collectors (and ' +
  "ipa-collect-lldp) or get LLDP data from the switches.";

/** Thrown by the `lldp` collector; its message says why and what to do instead. */
export class LldpNotSupportedError extends Error {
  constructor() {
    super(LLDP_UNSUPPORTED);
  }
}

export function collectLldp(): Promise<never> {
  return Promise.reject(new LldpNotSupportedError());
}
