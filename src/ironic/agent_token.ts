/**
 * The agent token acceptance rules of spec 01 §5, applied to `config.agent_token` of a lookup.
 * Every token learnt is registered with the logger so no log line can show it.
 */
import { addSecret, type Logger } from "../log.ts";

/** Value Ironic returns when the node already has a token (second lookup, pregenerated). */
export const MASKED_TOKEN = "******";
/** Shortest value accepted as a token (Ironic sends 43 characters). */
export const MIN_TOKEN_LENGTH = 32;

export interface TokenDecision {
  /** The token to use from now on (may be the one already known), or null. */
  token: string | null;
  /**
   * Ironic answered `"******"` and no token is known: the agent cannot authenticate and must
   * stop serving (IPA-master locks down).
   */
  unavailable: boolean;
}

/** Decides which token to use after a lookup answered `received`. */
export function acceptAgentToken(
  received: unknown,
  known: string | null,
  log: Logger,
): TokenDecision {
  addSecret(known);
  if (received === undefined || received === null || received === "") {
    if (!known) {
      log.warn(
        "Ironic did not provide an agent token and none is configured; heartbeats will " +
          "be rejected by an Ironic API that requires one",
      );
    }
    return { token: known, unavailable: false };
  }
  if (received === MASKED_TOKEN) {
    if (known) {
      log.debug("Lookup returned a masked agent token; using the token already known");
      return { token: known, unavailable: false };
    }
    log.error(
      "The agent token was already retrieved by an earlier lookup and is not known to this " +
        "process; the agent cannot authenticate and stops serving",
    );
    return { token: null, unavailable: true };
  }
  if (
    typeof received === "string" && received.length >= MIN_TOKEN_LENGTH &&
    !received.includes(MASKED_TOKEN)
  ) {
    addSecret(received);
    log.info("Adopted the agent token from lookup");
    return { token: received, unavailable: false };
  }
  log.warn("Ignoring an invalid agent token received from lookup", {
    type: typeof received,
    length: typeof received === "string" ? received.length : undefined,
  });
  return { token: known, unavailable: false };
}
