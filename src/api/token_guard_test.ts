import assert from "node:assert/strict";
import { timingSafeEqual, TokenGuard } from "./token_guard.ts";
import { UnauthorizedError } from "./errors.ts";

Deno.test("timingSafeEqual() compares whole strings", () => {
  assert.equal(timingSafeEqual("abc", "abc"), true);
  assert.equal(timingSafeEqual("abc", "abd"), false);
  assert.equal(timingSafeEqual("abc", "abcd"), false);
  assert.equal(timingSafeEqual("", ""), true);
});

Deno.test("TokenGuard adopts a new token and rejects the old one", () => {
  const guard = new TokenGuard("a".repeat(43));
  guard.checkPost("a".repeat(43));
  guard.setToken("b".repeat(43));
  assert.throws(() => guard.checkPost("a".repeat(43)), UnauthorizedError);
  guard.checkPost("b".repeat(43));
});
