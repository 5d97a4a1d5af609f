import assert from "node:assert/strict";
import { ipFamily, parseIpAddress } from "./ip_address.ts";

Deno.test("parseIpAddress() reads IPv4 and IPv6 literals and rejects names", async (t) => {
  const cases: [string, number[] | null][] = [
    ["10.0.0.15", [10, 0, 0, 15]],
    ["[::1]", [...Array(15).fill(0), 1]],
    ["fd00::2", [0xfd, 0, ...Array(13).fill(0), 2]],
    ["::ffff:10.1.2.3", [...Array(10).fill(0), 0xff, 0xff, 10, 1, 2, 3]],
    ["fe80::1%eth0", [0xfe, 0x80, ...Array(13).fill(0), 1]],
    ["256.0.0.1", null],
    ["1::2::3", null],
    ["1:2:3:4:5:6:7:8:9", null],
    ["agent.example.net", null],
  ];
  for (const [text, expected] of cases) {
    await t.step(text, () => {
      const got = parseIpAddress(text);
      assert.deepEqual(got ? [...got] : null, expected);
    });
  }
});

Deno.test("ipFamily() tells IPv4 from IPv6 literals and names", () => {
  const cases: [string, 0 | 4 | 6][] = [
    ["10.0.2.15", 4],
    ["169.254.1.1", 4],
    ["fe80::1%eth0", 6],
    ["::ffff:10.0.0.1", 6],
    ["2001:db8::1", 6],
    ["1.2.3", 0],
    ["2001:db8::g", 0],
    ["ironic.example.net", 0],
    ["", 0],
  ];
  for (const [text, family] of cases) assert.equal(ipFamily(text), family, JSON.stringify(text));
});
