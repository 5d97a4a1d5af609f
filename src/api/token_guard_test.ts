import assert from "node:assert/strict";
import { requestToken, timingSafeEqual, TokenGuard } from "./token_guard.ts";
import { UnauthorizedError } from "./errors.ts";

Deno.test("timingSafeEqual() compares whole strings", () => {
  assert.equal(timingSafeEqual("abc", "abc"), true);
  assert.equal(timingSafeEqual("abc", "abd"), false);
  assert.equal(timingSafeEqual("abc", "abcd"), false);
  assert.equal(timingSafeEqual("", ""), true);
});

Deno.test("TokenGuard learns the token once and replaces it only after release()", () => {
  const guard = new TokenGuard(null);
  assert.equal(guard.setToken("a".repeat(43)), true);
  guard.checkPost("a".repeat(43));
  assert.equal(guard.setToken("a".repeat(43)), true, "the same token again is harmless");
  assert.equal(guard.setToken("b".repeat(43)), false, "a second, different token is refused");
  guard.checkPost("a".repeat(43));
  assert.throws(() => guard.checkPost("b".repeat(43)), UnauthorizedError);
  guard.release();
  guard.checkPost("a".repeat(43));
  assert.equal(guard.setToken("b".repeat(43)), true);
  assert.throws(() => guard.checkPost("a".repeat(43)), UnauthorizedError);
  guard.checkPost("b".repeat(43));
  assert.equal(guard.setToken("c".repeat(43)), false, "learnt once again after the release");
});

Deno.test("requestToken() reads the query or the X-Agent-Token header, refusing a conflict", () => {
  const url = (q: string) => new URL(`http://a/v1/commands/${q}`);
  const none = new Headers();
  const header = new Headers({ "x-agent-token": "h".repeat(43) });
  assert.equal(requestToken(url(""), none), null);
  assert.equal(requestToken(url(`?agent_token=${"q".repeat(43)}`), none), "q".repeat(43));
  assert.equal(requestToken(url(""), header), "h".repeat(43));
  assert.equal(requestToken(url(`?agent_token=${"h".repeat(43)}`), header), "h".repeat(43));
  assert.throws(
    () => requestToken(url(`?agent_token=${"q".repeat(43)}`), header),
    UnauthorizedError,
  );
});
