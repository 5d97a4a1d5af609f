import assert from "node:assert/strict";
import { matchSpec, parseSpec, toFloat } from "./spec_matcher.ts";

Deno.test("parseSpec() follows the oslo grammar, quirks included", async (t) => {
  const cases: [string, ReturnType<typeof parseSpec>][] = [
    ["foo", { op: null, args: ["foo"] }],
    ["foo bar", { op: null, args: ["foo"] }], // trailing text is ignored (no parseAll)
    ["== 100", { op: "==", args: ["100"] }],
    ["==100", { op: "==", args: ["100"] }],
    ["= 100", { op: "=", args: ["100"] }],
    [">= 400", { op: ">=", args: ["400"] }],
    ["s== abc", { op: "s==", args: ["abc"] }],
    ["s!= abc", { op: "s!=", args: ["abc"] }],
    ["s<= abc", { op: "s<=", args: ["abc"] }],
    ["<in> intel", { op: "<in>", args: ["intel"] }],
    ["<or> a <or> b <or> c", { op: "<or>", args: ["a", "b", "c"] }],
    ["<all-in> a b", { op: "<all-in>", args: ["a", "b"] }],
    ["<range-in> [ 10 20 )", { op: "<range-in>", args: ["[", "10", "20", ")"] }],
    ["<range-in> (10 20 ]", { op: "<range-in>", args: ["(", "10", "20", "]"] }],
    // "20]" is one atom, so the range fails and "<" + "range-in>" is what pyparsing returns.
    ["<range-in> [10 20]", { op: "<", args: ["range-in>"] }],
    ["==", null],
    ["<in>", null],
    ["", null],
  ];
  for (const [spec, expected] of cases) {
    await t.step(JSON.stringify(spec), () => assert.deepEqual(parseSpec(spec), expected));
  }
});

Deno.test("matchSpec() implements every operator", async (t) => {
  const cases: [string | number, string, boolean][] = [
    [100, "== 100", true],
    [100.5, "== 100", false],
    [100, "!= 100", false],
    [99, "< 100", true],
    [100, "<= 100", true],
    [101, "> 100", true],
    [100, ">= 100", true],
    [150, "= 100", true], // "=" means ">="
    [50, "= 100", false],
    [15, "<range-in> [ 10 20 )", true],
    [20, "<range-in> [ 10 20 )", false],
    [20, "<range-in> [ 10 20 ]", true],
    [10, "<range-in> ( 10 20 ]", false],
    [100, "<or> 100 <or> 200", false], // a float never equals a string
    [100, "s== 100", false],
    ["abc", "s== abc", true],
    ["abc", "s!= abc", false],
    ["abc", "s< abd", true],
    ["abc", "s<= abc", true],
    ["abd", "s> abc", true],
    ["abc", "s>= abd", false],
    ["samsung%20ssd", "<in> ssd", true],
    ["b", "<or> a <or> b", true],
    ["c", "<or> a <or> b", false],
    ["abcdef", "<all-in> ab ef", true],
    ["abc", "abc", true],
    ["abc", "== 1", false], // float("abc") raises in Python: no match here
  ];
  for (const [value, spec, expected] of cases) {
    await t.step(`${JSON.stringify(value)} vs ${spec}`, () => {
      assert.deepEqual(matchSpec(value, parseSpec(spec)!), expected);
    });
  }
});

Deno.test("toFloat() accepts what Python float() accepts here", () => {
  assert.deepEqual(toFloat(" 12 "), 12);
  assert.deepEqual(toFloat("1e3"), 1000);
  assert.deepEqual(toFloat(".5"), 0.5);
  assert.deepEqual(toFloat("-inf"), -Infinity);
  assert.deepEqual(toFloat("abc"), null);
  assert.deepEqual(toFloat(""), null);
});
