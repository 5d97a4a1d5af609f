import assert from "node:assert/strict";
import { kernelCommandLine } from "./vm.ts";
import { heartbeatEpochMs } from "./vm_flow.ts";

Deno.test("kernelCommandLine() puts the serial console first and keeps the given order", () => {
  assert.equal(
    kernelCommandLine({ "ipa-api-url": "http://10.0.2.2:6385", "--": null, "-f": null }),
    "console=ttyS0 ipa-api-url=http://10.0.2.2:6385 -- -f",
  );
});

Deno.test("kernelCommandLine() refuses a value with whitespace, naming the parameter", () => {
  assert.throws(
    () => kernelCommandLine({ "ipa-api-url": "http://a b" }),
    /kernel parameter "ipa-api-url"="http:\/\/a b".*whitespace/,
  );
});

Deno.test("heartbeatEpochMs() reads the conductor's zone-less UTC time as UTC", async (t) => {
  await t.step("microseconds, no zone", () => {
    assert.equal(
      heartbeatEpochMs("2026-11-25T15:19:31.123456"),
      Date.UTC(2026, 10, 25, 15, 19, 31, 123),
    );
  });
  await t.step("explicit zone kept", () => {
    assert.equal(heartbeatEpochMs("2026-11-25T16:19:31+01:00"), Date.UTC(2026, 10, 25, 15, 19, 31));
  });
  await t.step("absent or invalid", () => {
    assert.equal(heartbeatEpochMs(undefined), null);
    assert.equal(heartbeatEpochMs("not a time"), null);
  });
});
