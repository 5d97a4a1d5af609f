/** Test helpers on top of `node:assert/strict`. Not part of the module's API. */
import assert from "node:assert/strict";

// deno-lint-ignore no-explicit-any
export type ErrorClass<E extends Error> = abstract new (...args: any[]) => E;

/** Awaits `fn`, asserts it rejects with `errorClass` (and `pattern`), returns the error. */
export async function rejectsWith<E extends Error>(
  fn: () => Promise<unknown>,
  errorClass: ErrorClass<E>,
  pattern?: RegExp,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof errorClass, `expected ${errorClass.name}, got ${err}`);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a ${errorClass.name} rejection`);
}

/** Calls `fn`, asserts it throws `errorClass` (and `pattern`), returns the error. */
export function throwsWith<E extends Error>(
  fn: () => unknown,
  errorClass: ErrorClass<E>,
  pattern?: RegExp,
): E {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof errorClass, `expected ${errorClass.name}, got ${err}`);
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected a ${errorClass.name} error`);
}
