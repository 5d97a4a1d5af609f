import assert from "node:assert/strict";
import { BlockDeviceEraseError } from "../api/errors.ts";
import { Logger } from "../log.ts";
import { fakeRunner, type Reply, testdata } from "./_test_runner.ts";
import { ataErase, parseEraseMinutes, parseSecurityLines } from "./ata.ts";

const log = new Logger({ test: "ata" });
const DEV = "/dev/sda";
const SMART_OK = "smartctl 7.3 2022-02-28 r5338\nATA Security is:  Disabled, NOT FROZEN [SEC1]\n";

/** Answers `hdparm -I` with each file in turn (the last one repeats). */
function hdparm(...files: string[]) {
  return (line: string): Reply | undefined => {
    if (line !== `hdparm -I ${DEV}`) return undefined;
    const file = files.length > 1 ? files.shift()! : files[0]!;
    return testdata(`hdparm/${file}`);
  };
}
const smartctl = (reply: Reply) => (line: string) =>
  line.startsWith("smartctl") ? reply : undefined;
const hdparmOk = (line: string) => line.startsWith("hdparm --user-master") ? "" : undefined;

Deno.test("parseSecurityLines() reads the tab-indented lines after Security:", () => {
  const lines = parseSecurityLines(testdata("hdparm/ssd-not-frozen-enhanced-hand.txt"));
  assert.deepEqual(lines, [
    "Master password revision code = 65534",
    "supported",
    "not enabled",
    "not locked",
    "not frozen",
    "not expired: security count",
    "supported: enhanced erase",
    "2min for SECURITY ERASE UNIT. 8min for ENHANCED SECURITY ERASE UNIT.",
  ]);
  assert.deepEqual(parseSecurityLines(testdata("hdparm/usb-bridge-no-security-hand.txt")), []);
  assert.equal(parseEraseMinutes(lines, true), 8);
  assert.equal(parseEraseMinutes(lines, false), 2);
});

Deno.test("ataErase() sets the NULL password and runs the enhanced erase", async () => {
  const runner = fakeRunner(
    hdparm("ssd-not-frozen-enhanced-hand.txt"),
    smartctl(SMART_OK),
    hdparmOk,
  );
  assert.equal(await ataErase(runner, DEV, { log }), "ata_secure_erase_enhanced");
  assert.deepEqual(runner.calls, [
    `hdparm -I ${DEV}`,
    `smartctl -d ata ${DEV} -g security`,
    `hdparm --user-master u --security-set-pass NULL ${DEV}`,
    `hdparm --user-master u --security-erase-enhanced NULL ${DEV}`,
    `hdparm -I ${DEV}`,
  ]);
});

Deno.test("ataErase() uses the normal erase when enhanced erase is not supported", async () => {
  const runner = fakeRunner(hdparm("ssd-no-enhanced-hand.txt"), smartctl(SMART_OK), hdparmOk);
  assert.equal(await ataErase(runner, DEV, { log }), "ata_secure_erase");
  assert.ok(runner.calls.includes(`hdparm --user-master u --security-erase NULL ${DEV}`));
});

Deno.test("ataErase() refuses a frozen drive before any security command", async () => {
  const runner = fakeRunner(hdparm("ssd-frozen-hand.txt"), smartctl(SMART_OK), hdparmOk);
  await assert.rejects(
    ataErase(runner, DEV, { log }),
    (err) => err instanceof BlockDeviceEraseError && /sda is frozen/.test(err.details),
  );
  assert.ok(!runner.calls.some((c) => c.includes("--user-master")));
});

Deno.test("ataErase() unlocks a locked drive with NULL, then erases", async () => {
  const runner = fakeRunner(
    hdparm(
      "ssd-locked-hand.txt",
      "ssd-enabled-after-erase-failure-hand.txt",
      "ssd-not-frozen-enhanced-hand.txt",
    ),
    smartctl(SMART_OK),
    hdparmOk,
  );
  assert.equal(await ataErase(runner, DEV, { log }), "ata_secure_erase_enhanced");
  assert.deepEqual(runner.calls.slice(2), [
    `hdparm --user-master u --security-unlock NULL ${DEV}`,
    `hdparm -I ${DEV}`,
    // Security stays enabled (our NULL password), so no set-pass: straight to the erase.
    `hdparm --user-master u --security-erase-enhanced NULL ${DEV}`,
    `hdparm -I ${DEV}`,
  ]);
});

Deno.test("ataErase() fails when both unlock passwords are refused", async () => {
  const runner = fakeRunner(
    hdparm("ssd-locked-hand.txt"),
    smartctl(SMART_OK),
    (line) =>
      line.includes("--security-unlock")
        ? { code: 5, stderr: "SECURITY_UNLOCK: Input/output error" }
        : undefined,
  );
  await assert.rejects(
    ataErase(runner, DEV, { log }),
    (err) =>
      err instanceof BlockDeviceEraseError && /already has a security password/.test(err.details),
  );
  assert.deepEqual(runner.calls.filter((c) => c.includes("--security-unlock")), [
    `hdparm --user-master u --security-unlock NULL ${DEV}`,
    `hdparm --user-master u --security-unlock  ${DEV}`,
  ]);
  assert.ok(!runner.calls.some((c) => c.includes("--security-erase")));
});

Deno.test("ataErase() unlocks the drive again after a failed erase, then fails", async () => {
  const runner = fakeRunner(
    hdparm(
      "ssd-not-frozen-enhanced-hand.txt",
      "ssd-locked-hand.txt",
      "ssd-not-frozen-enhanced-hand.txt",
    ),
    smartctl(SMART_OK),
    (line) => line.includes("--security-erase") ? { code: 5, stderr: "I/O error" } : undefined,
    hdparmOk,
  );
  await assert.rejects(
    ataErase(runner, DEV, { log }),
    (err) => err instanceof BlockDeviceEraseError && /--security-erase-enhanced/.test(err.details),
  );
  assert.ok(runner.calls.includes(`hdparm --user-master u --security-unlock NULL ${DEV}`));
});

Deno.test("ataErase() returns null (overwrite instead) when ATA security is not usable", async (t) => {
  await t.step("not supported by the drive", async () => {
    const runner = fakeRunner(hdparm("ssd-security-not-supported-hand.txt"));
    assert.equal(await ataErase(runner, DEV, { log }), null);
    assert.deepEqual(runner.calls, [`hdparm -I ${DEV}`]);
  });
  await t.step("smartctl says Unavailable (SAS/USB bridge)", async () => {
    const runner = fakeRunner(
      hdparm("ssd-not-frozen-enhanced-hand.txt"),
      smartctl("ATA Security is:  Unavailable\n"),
    );
    assert.equal(await ataErase(runner, DEV, { log }), null);
  });
  await t.step("smartctl fails", async () => {
    const runner = fakeRunner(hdparm("ssd-not-frozen-enhanced-hand.txt"), smartctl({ code: 2 }));
    assert.equal(await ataErase(runner, DEV, { log }), null);
    assert.ok(!runner.calls.some((c) => c.includes("--user-master")));
  });
});

Deno.test("ataErase() returns null for a device without ATA identify data (loop, virtio)", async (t) => {
  await t.step("hdparm prints no Security section", async () => {
    const runner = fakeRunner(hdparm("loop-no-identify.txt"));
    assert.equal(await ataErase(runner, DEV, { log }), null);
    assert.deepEqual(runner.calls, [`hdparm -I ${DEV}`]);
  });
  await t.step("hdparm fails", async () => {
    const runner = fakeRunner((line) => line.startsWith("hdparm -I") ? { code: 22 } : undefined);
    assert.equal(await ataErase(runner, DEV, { log }), null);
  });
});
