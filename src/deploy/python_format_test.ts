import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { formatTemplate, parseTemplate } from "./python_format.ts";

const roots = {
  node: {
    uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
    name: null,
    properties: { cpu_arch: "x86_64", cpus: 8, local_gb: 1.5, tags: ["a"] },
    maintenance: false,
  },
  ports: [{ address: "52:54:00:12:34:56" }, { address: "52:54:00:ab:cd:ef" }],
};

Deno.test("formatTemplate() expands node and port placeholders like str.format", async (t) => {
  const cases: [string, string][] = [
    ["http://h/{node[uuid]}/key", "http://h/1be26c0b-03f2-4d2e-ae87-c02d7f33c123/key"],
    ["http://h/{node[properties][cpu_arch]}.conf", "http://h/x86_64.conf"],
    ["http://h/{ports[1][address]}", "http://h/52:54:00:ab:cd:ef"],
    ["http://h/{node[properties][cpus]}-{node[properties][local_gb]}", "http://h/8-1.5"],
    ["http://h/{node[name]}/{node[maintenance]}", "http://h/None/False"],
    [
      "http://h/{{literal}}/{node[uuid]}",
      "http://h/{literal}/1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
    ],
    ["http://h/plain", "http://h/plain"],
  ];
  for (const [template, expected] of cases) {
    await t.step(template, () => assert.equal(formatTemplate(template, roots), expected));
  }
});

Deno.test("formatTemplate() refuses fields it does not support, naming the placeholder", async (t) => {
  const cases: [string, RegExp][] = [
    ["http://h/{node.uuid}", /placeholder \{node\.uuid\} is not supported/],
    ["http://h/{node[uuid]!r}", /placeholder \{node\[uuid\]!r\} is not supported/],
    ["http://h/{node[uuid]:>40}", /not supported/],
    ["http://h/{}", /placeholder \{\} is not supported/],
    ["http://h/{0}", /placeholder \{0\} is not supported/],
    ["http://h/{node}", /placeholder \{node\} is not supported/],
    ["http://h/{instance_info[x]}", /not supported/],
    ["http://h/{node[]}", /not supported/],
    ["http://h/{node[uuid]", /unclosed "\{" at offset 9/],
    ["http://h/}", /single "\}" at offset 9/],
    ["http://h/{node[missing]}", /\{node\[missing\]\}: node has no key "missing"/],
    ["http://h/{ports[2][address]}", /ports has no item 2 \(length 2\)/],
    ["http://h/{ports[x]}", /ports has no item x/],
    ["http://h/{node[uuid][0]}", /node\[uuid\] is not an object or a list/],
    ["http://h/{node[properties]}", /is an object or a list, not a printable value/],
    ["http://h/{node[properties][tags]}", /not a printable value/],
  ];
  for (const [template, pattern] of cases) {
    await t.step(template, () => {
      assert.throws(() => formatTemplate(template, roots), (err: unknown) => {
        assert.ok(err instanceof InvalidCommandParamsError);
        assert.match(err.details, pattern);
        assert.ok(err.details.includes(JSON.stringify(template)), err.details);
        return true;
      });
    });
  }
});

Deno.test("parseTemplate() splits literals and fields", () => {
  assert.deepEqual(parseTemplate("a{node[x][0]}b"), [
    "a",
    { text: "node[x][0]", root: "node", keys: ["x", "0"] },
    "b",
  ]);
});
