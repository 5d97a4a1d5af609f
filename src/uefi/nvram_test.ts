import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { fakeRunner, type Handler, testdata } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { cleanUefiNvram, compilePatterns, parseBootEntries } from "./nvram.ts";

const log = new Logger({ test: "uefi_nvram" });

/** A UEFI machine answering `efibootmgr -v` with `output`. */
function uefi(output: string, efi = true): Handler {
  return (line, cmd) => {
    if (line === "find /sys/firmware/efi -maxdepth 0") return efi ? "/sys/firmware/efi\n" : "";
    if (line === "efibootmgr -v") return output;
    if (cmd === "efibootmgr") return "";
    return undefined;
  };
}

/** efibootmgr's UTF-16LE output (with BOM) as the runner's UTF-8 decoding delivers it. */
function asUtf16(text: string): string {
  const bytes = new Uint8Array(2 + text.length * 2);
  bytes.set([0xff, 0xfe]);
  for (let i = 0; i < text.length; i++) bytes[2 + i * 2] = text.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

Deno.test("parseBootEntries() reads efibootmgr 17 and 18 output", () => {
  const v17 = parseBootEntries(testdata("efibootmgr/ovmf-v17-hand.txt"));
  assert.deepEqual(v17.map((e) => e.number), ["0000", "0001", "0002", "0003", "0004", "0005"]);
  assert.deepEqual(v17[3], {
    number: "0003",
    active: true,
    label: "debian",
    devicePath:
      "HD(1,GPT,5e1e9b55-5ef8-4cf1-a9ea-3cbfe1f73e57,0x800,0x100000)/File(\\EFI\\debian\\shimx64.efi)",
  });
  assert.equal(v17[4]!.label, "UEFI PXEv4 (MAC:525400123456)");

  const v18 = parseBootEntries(testdata("efibootmgr/server-v18-hand.txt"));
  assert.deepEqual(v18.map((e) => [e.number, e.active, e.devicePath.slice(0, 6)]), [
    ["0000", true, "HD(2,G"],
    ["0001", true, "VenHw("],
    ["0002", true, "VenHw("],
    ["0003", false, "HD(1,G"],
    ["0004", true, "BBS(HD"],
  ]);
});

Deno.test("parseBootEntries() reads UTF-16 output like UTF-8", () => {
  const text = testdata("efibootmgr/ovmf-v17-hand.txt");
  assert.deepEqual(parseBootEntries(asUtf16(text)), parseBootEntries(text));
});

Deno.test("cleanUefiNvram() removes disk, shim and grub entries by default", async () => {
  const runner = fakeRunner(uefi(testdata("efibootmgr/ovmf-v17-hand.txt")));
  const removed = await cleanUefiNvram(runner, { log, protectHost: false });
  assert.deepEqual(removed.map((e) => e.number), ["0003", "0005"]);
  assert.deepEqual(runner.calls.filter((c) => c.includes("-B")), [
    "efibootmgr -b 0003 -B",
    "efibootmgr -b 0005 -B",
  ]);
});

Deno.test("cleanUefiNvram() uses the given patterns, case-insensitively", async () => {
  const runner = fakeRunner(uefi(testdata("efibootmgr/server-v18-hand.txt")));
  const removed = await cleanUefiNvram(runner, {
    log,
    protectHost: false,
    matchPatterns: ["BOOTMGFW\\.EFI", "^BBS\\("],
  });
  assert.deepEqual(removed.map((e) => e.number), ["0003", "0004"]);
  assert.deepEqual(runner.calls.filter((c) => c.includes("-B")), [
    "efibootmgr -b 0003 -B",
    "efibootmgr -b 0004 -B",
  ]);
});

Deno.test("cleanUefiNvram() only logs under --protect-host and skips BIOS machines", async () => {
  const guarded = fakeRunner(uefi(testdata("efibootmgr/ovmf-v17-hand.txt")));
  const wouldRemove = await cleanUefiNvram(guarded, { log, protectHost: true });
  assert.deepEqual(wouldRemove.map((e) => e.number), ["0003", "0005"]);
  assert.ok(!guarded.calls.some((c) => c.includes("-B")));

  const bios = fakeRunner(uefi("", false));
  assert.deepEqual(await cleanUefiNvram(bios, { log, protectHost: false }), []);
  assert.ok(!bios.calls.some((c) => c.startsWith("efibootmgr")));
});

Deno.test("compilePatterns() names an invalid pattern", () => {
  assert.throws(
    () => compilePatterns(["^HD\\(", "grub(.efi"]),
    (err: unknown) =>
      err instanceof InvalidCommandParamsError &&
      err.details.includes('match_patterns entry "grub(.efi" is not a valid regular expression'),
  );
});
