import assert from "node:assert/strict";
import { throwsWith } from "./_test_assert.ts";
import {
  compareApiVersions,
  formatApiVersion,
  minApiVersion,
  parseApiVersion,
  supportsApiVersion,
} from "./api_version.ts";

Deno.test("parseApiVersion() reads X.Y and rejects other text", () => {
  assert.deepEqual(parseApiVersion("1.62"), [1, 62]);
  assert.deepEqual(parseApiVersion(" 1.115 "), [1, 115]);
  throwsWith(() => parseApiVersion("1"), SyntaxError, /Invalid Ironic API version "1"/);
  throwsWith(() => parseApiVersion("v1.2"), SyntaxError);
});

Deno.test("compareApiVersions() compares numerically, not as text", () => {
  assert.deepEqual(compareApiVersions([1, 9], [1, 62]) < 0, true);
  assert.deepEqual(compareApiVersions([1, 100], [1, 68]) > 0, true);
  assert.deepEqual(compareApiVersions([2, 0], [1, 99]) > 0, true);
  assert.deepEqual(compareApiVersions([1, 62], [1, 62]), 0);
  assert.deepEqual(supportsApiVersion([1, 62], [1, 62]), true);
  assert.deepEqual(supportsApiVersion([1, 61], [1, 62]), false);
});

Deno.test("minApiVersion() and formatApiVersion() build the header value", () => {
  assert.deepEqual(formatApiVersion(minApiVersion([1, 99], [1, 62])), "1.62");
  assert.deepEqual(formatApiVersion(minApiVersion([1, 50], [1, 68])), "1.50");
});
