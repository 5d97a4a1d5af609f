import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { parseIni } from "./ini.ts";

Deno.test("parseIni() reads sections and key = value pairs", () => {
  const doc = parseIni("[DEFAULT]\napi_url = http://ironic:6385\n\n[mdns]\nuse_mdns=true\n");
  assertEquals(doc, {
    DEFAULT: { api_url: "http://ironic:6385" },
    mdns: { use_mdns: "true" },
  });
});

Deno.test("parseIni() splits at the first of '=' and ':'", async (t) => {
  const cases: [string, Record<string, string>][] = [
    ["a = http://x:1", { a: "http://x:1" }],
    ["a: b = c", { a: "b = c" }],
    ["a=b:c", { a: "b:c" }],
    ["a =", { a: "" }],
  ];
  for (const [line, expected] of cases) {
    await t.step(line, () => assertEquals(parseIni(`[DEFAULT]\n${line}`).DEFAULT, expected));
  }
});

Deno.test("parseIni() skips # and ; comments but has no inline comments", () => {
  const doc = parseIni(
    "# top\n[DEFAULT]\n; semi\n  # indented comment\na = 1 # not a comment\n;b = 2\n",
  );
  assertEquals(doc, { DEFAULT: { a: "1 # not a comment" } });
});

Deno.test("parseIni() trims whitespace and accepts CRLF and a byte-order mark", () => {
  const doc = parseIni("\uFEFF[DEFAULT]\r\n   \r\n\tkey\t=\t value with spaces  \r\n");
  assertEquals(doc, { DEFAULT: { key: "value with spaces" } });
});

Deno.test("parseIni() strips one pair of matching quotes", async (t) => {
  const cases: [string, string][] = [
    ['"quoted"', "quoted"],
    ["'single'", "single"],
    ["\"mismatched'", "\"mismatched'"],
    ['"', '"'],
    ['a "b"', 'a "b"'],
  ];
  for (const [raw, expected] of cases) {
    await t.step(raw, () => assertEquals(parseIni(`[DEFAULT]\nk = ${raw}`).DEFAULT?.k, expected));
  }
});

Deno.test("parseIni() joins indented continuation lines until a blank line", () => {
  const doc = parseIni("[DEFAULT]\na = one,\n  two,\n\tthree\n\n  b = 2\n");
  assertEquals(doc, { DEFAULT: { a: "one,\ntwo,\nthree", b: "2" } });
});

Deno.test("parseIni() ends a continued value at an unindented comment", () => {
  const doc = parseIni("[DEFAULT]\na = 1\n# stop\n  b = 2\n");
  assertEquals(doc, { DEFAULT: { a: "1", b: "2" } });
});

Deno.test("parseIni() lets a later duplicate win and merges a reopened section", () => {
  const doc = parseIni("[DEFAULT]\na = 1\nb = 1\n[x]\nc = 1\n[DEFAULT]\na = 2\n");
  assertEquals(doc, { DEFAULT: { a: "2", b: "1" }, x: { c: "1" } });
});

Deno.test("parseIni() lower-cases section names except DEFAULT", () => {
  const doc = parseIni("[SSL]\ncert_file = /c\n[ DEFAULT ]\nk = v\n[Default]\nk = w\n");
  assertEquals(doc, { ssl: { cert_file: "/c" }, DEFAULT: { k: "v" }, default: { k: "w" } });
});

Deno.test("parseIni() keeps key case and spelling", () => {
  assertEquals(parseIni("[DEFAULT]\nGuard-Special_filesystems = 1").DEFAULT, {
    "Guard-Special_filesystems": "1",
  });
});

Deno.test("parseIni() throws SyntaxError naming the line, without the line's text", async (t) => {
  const cases: [string, string, string][] = [
    [
      "option before a section",
      "agent_token = s3cret",
      "line 1: option before the first [section] header",
    ],
    ["unterminated header", "[DEFAULT]\n[ssl s3cret", 'line 2: section header lacks "]"'],
    ["empty header", "[DEFAULT]\n\n[ ]", "line 3: empty section name"],
    ["no separator", "[DEFAULT]\nagent_token s3cret", 'line 2: expected "key = value"'],
    ["empty key", "[DEFAULT]\n = s3cret", "line 2: empty option name"],
  ];
  for (const [name, text, message] of cases) {
    await t.step(name, () => {
      throws(() => parseIni(text), { name: "SyntaxError", message });
    });
  }
});
