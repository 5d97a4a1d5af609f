import assert from "node:assert/strict";
import { collectBmc, parseLan6Addresses, parseLan6Enables, parseLanPrint } from "./bmc.ts";
import { fakeRunner } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";

const testdata = new URL("../../testdata/ipmitool/", import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, testdata));

Deno.test("parseLanPrint() reads IP and MAC, keeping the first of repeated keys", () => {
  const fields = parseLanPrint(read("lan-print-1-hand.txt"));
  assert.equal(fields.get("IP Address"), "192.0.2.50");
  assert.equal(fields.get("MAC Address"), "D0:8E:79:AA:BB:CC");
  assert.equal(fields.get("IP Address Source"), "DHCP Address");
});

Deno.test("parseLan6Enables() and parseLan6Addresses() read the lan6 samples", () => {
  assert.equal(parseLan6Enables(read("lan6-enables-hand.txt")), true);
  assert.equal(parseLan6Enables("IPv6/IPv4 Addressing Enables: ipv4\n"), false);
  assert.deepEqual(parseLan6Addresses(read("lan6-dynamic-hand.txt")), [
    { address: "fe80::d28e:79ff:feaa:bbcc", enabled: true, active: true },
    { address: "::", enabled: true, active: false },
    { address: "2001:db8::50", enabled: true, active: true },
  ]);
  assert.deepEqual(parseLan6Addresses(read("lan6-static-hand.txt")), [
    { address: "2001:db8::99", enabled: false, active: false },
    { address: "::", enabled: true, active: true },
  ]);
});

function ipmi(lanPrint1: string) {
  return fakeRunner((_l, cmd, args) => {
    if (cmd === "find") return { code: 0, stdout: "console\nipmi0\nnull\n" };
    if (cmd !== "ipmitool") return undefined;
    const [kind, , ch, what] = args;
    if (ch !== "1") return { code: 1, stderr: `Invalid channel: ${ch}\n` };
    if (kind === "lan") return lanPrint1;
    if (what === "enables") return read("lan6-enables-hand.txt");
    if (what === "dynamic_addr") return read("lan6-dynamic-hand.txt");
    return read("lan6-static-hand.txt");
  });
}

Deno.test("collectBmc() finds address, IPv6 address and MAC on channel 1", async () => {
  const runner = ipmi(read("lan-print-1-hand.txt"));
  assert.deepEqual(await collectBmc(runner, new Logger()), {
    bmc_address: "192.0.2.50",
    // spec 05 §6: the first active, enabled, non-"::" address; IPA does not skip link-local.
    bmc_v6address: "fe80::d28e:79ff:feaa:bbcc",
    bmc_mac: "d0:8e:79:aa:bb:cc",
  });
  // Each channel's `lan print` is read once, shared by the address and the MAC.
  assert.equal(runner.calls.filter((c) => c === "ipmitool lan print 1").length, 1);
});

Deno.test("collectBmc() reports 0.0.0.0 but keeps the MAC of an IPv6-only channel", async () => {
  const info = await collectBmc(ipmi(read("lan-print-1-noipv4-hand.txt")), new Logger());
  assert.equal(info.bmc_address, "0.0.0.0");
  assert.equal(info.bmc_mac, "d0:8e:79:aa:bb:cc");
});

Deno.test("collectBmc() does not run ipmitool without an IPMI device", async () => {
  const runner = fakeRunner((_l, cmd) => cmd === "find" ? "console\nnull\n" : undefined);
  assert.deepEqual(await collectBmc(runner, new Logger()), {
    bmc_address: null,
    bmc_v6address: null,
  });
  assert.equal(runner.calls.some((c) => c.startsWith("ipmitool")), false);
});

Deno.test("collectBmc() leaves a value null when ipmitool fails", async () => {
  const runner = fakeRunner((_l, cmd) =>
    cmd === "find" ? "ipmi0\n" : { code: 1, stderr: "Could not open device at /dev/ipmi0\n" }
  );
  const info = await collectBmc(runner, new Logger());
  assert.deepEqual(info, { bmc_address: null, bmc_v6address: null });
});
