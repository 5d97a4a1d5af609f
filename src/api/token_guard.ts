/**
 * The agent token check of spec 02 §4 (the IPA 11.x rule): POST always needs the token; the GET
 * command routes need it only once some GET has carried one, because Ironic 21.4 polls without
 * it. Comparison is constant-time.
 *
 * The token travels in the `agent_token` query parameter (what Ironic sends) or in the
 * `X-Agent-Token` header (for other clients: headers stay out of URLs, proxies' access logs and
 * shell history). A request carrying both with different values is refused.
 *
 * The token is learnt once (spec 01 §5): the first one from configuration or lookup is kept, and
 * a different one is refused until `release()` says Ironic itself rejected the current token
 * (the node was power-cycled without this process restarting, so Ironic issued a new one).
 * Nothing on the API can set it.
 */
import { UnauthorizedError } from "./errors.ts";

/** The header accepted in place of the `agent_token` query parameter. */
export const TOKEN_HEADER = "X-Agent-Token";

/** The token a request carries, from the query or the header; 401 when they disagree. */
export function requestToken(url: URL, headers: Headers): string | null {
  const query = url.searchParams.get("agent_token");
  const header = headers.get(TOKEN_HEADER);
  if (query !== null && header !== null && !timingSafeEqual(query, header)) {
    throw new UnauthorizedError("Token invalid.");
  }
  return header ?? query;
}

export class TokenGuard {
  #token: string | null;
  #getRequiresToken = false;
  #released = false;

  constructor(token: string | null = null) {
    this.#token = token;
  }

  get token(): string | null {
    return this.#token;
  }

  /**
   * Learns the token from lookup or configuration. Returns false, keeping the current token, when
   * a different one is already known and was not released.
   */
  setToken(token: string | null): boolean {
    if (!token || token === this.#token) return true;
    if (this.#token !== null && !this.#released) return false;
    this.#token = token;
    this.#released = false;
    return true;
  }

  /**
   * Ironic rejected the current token: the next `setToken` may replace it. Until then the old one
   * still authenticates, since Ironic may only have restarted.
   */
  release(): void {
    this.#released = true;
  }

  /** Throws 401 unless `given` is the agent's token. */
  checkPost(given: string | null): void {
    if (!this.#matches(given)) throw new UnauthorizedError("Token invalid.");
  }

  /** GET routes: once any GET carried a token, every later GET must carry the valid one. */
  checkGet(given: string | null): void {
    if (given) this.#getRequiresToken = true;
    if (this.#getRequiresToken) this.checkPost(given);
  }

  #matches(given: string | null): boolean {
    const expected = this.#token;
    if (!given || !expected) return false;
    return timingSafeEqual(given, expected);
  }
}

/** Compares two strings in time that depends only on their lengths. */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}
