/**
 * The agent token check of spec 02 §4 (the IPA 11.x rule): POST always needs the token; the GET
 * command routes need it only once some GET has carried one, because Ironic 21.4 polls without
 * it. Comparison is constant-time.
 */
import { UnauthorizedError } from "./errors.ts";

export class TokenGuard {
  #token: string | null;
  #getRequiresToken = false;

  constructor(token: string | null = null) {
    this.#token = token;
  }

  get token(): string | null {
    return this.#token;
  }

  /** Adopts a token learnt from lookup or configuration. */
  setToken(token: string | null): void {
    this.#token = token;
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
