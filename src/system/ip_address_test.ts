import assert from "node:assert/strict";
import { isIP } from "node:net";
import { ipFamily } from "./ip_address.ts";

Deno.test("ipFamily() answers as node:net isIP", () => {
  const cases = [
    "10.0.2.15",
    "255.255.255.255",
    "0.0.0.0",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "fe80::1",
    "fe80::1%eth0",
    "fe80::1%",
    "::",
    "::1",
    "::ffff:10.0.0.1",
    "2001:db8::1:2:3:4:5:6",
    "2001:db8:0:0:0:0:0:1",
    "2001:db8:::1",
    "2001:db8::g",
    "1:2:3:4:5:6:7:8:9",
    "[::1]",
    "example.com",
    "",
    "10.0.2.15 ",
  ];
  for (const text of cases) {
    assert.equal(ipFamily(text), isIP(text), JSON.stringify(text));
  }
});
