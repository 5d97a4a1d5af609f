import assert from "node:assert/strict";
import { parseIpAddr, usableMac } from "./network.ts";

Deno.test("parseIpAddr() takes the first IPv4 and IPv6 address of recorded ip -j addr", async () => {
  const text = await Deno.readTextFile(new URL("../../testdata/ip/addr.json", import.meta.url));
  const addrs = parseIpAddr(text);
  assert.deepEqual(addrs.get("eth0"), { ipv4: "192.0.2.2", ipv6: "fd00::2" });
  assert.deepEqual(addrs.get("ifb0"), { ipv4: null, ipv6: null });
});

Deno.test("usableMac() keeps real MACs only", () => {
  assert.equal(usableMac("02:FC:00:00:00:01\n"), "02:fc:00:00:00:01");
  assert.equal(usableMac("00:00:00:00:00:00"), null);
  assert.equal(usableMac("fa:16:3e:00:00:01"), null);
  assert.equal(usableMac("a0:00:00:27:fe:80:00:00:00:00:00:00:7c:fe:90:03:00:29:26:52"), null);
  assert.equal(usableMac(undefined), null);
});
