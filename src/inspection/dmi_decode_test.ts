/** The `dmi-decode` collector on dmidecode output (testdata/dmidecode). */
import assert from "node:assert/strict";
import { fakeRunner, testdata } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { runCollectors } from "./collectors.ts";
import { collectDmi, DmiFormatError, parseDmi, parseHandleBlock } from "./dmi_decode.ts";

const log = new Logger({ test: "dmi_decode" });
const SERVER = "dmidecode/bios-processor-memory-hand.txt";

Deno.test("parseHandleBlock() keeps values, collects list fields and the Handle line", () => {
  const block = parseHandleBlock(
    "Handle 0x0D00, DMI type 13, 22 bytes\nBIOS Language Information\n" +
      "\tLanguage Description Format: Abbreviated\n\tInstallable Languages: 1\n\t\tenUS\n" +
      "\tCurrently Installed Language: enUS",
  );
  assert.deepEqual(block, {
    Handle: "Handle 0x0D00, DMI type 13, 22 bytes",
    "Language Description Format": "Abbreviated",
    "Installable Languages": "1",
    "Currently Installed Language": "enUS",
  });
  // A key with an empty value opens a list; the next "Key: value" line closes it.
  assert.deepEqual(
    parseHandleBlock(
      "Handle 0x1, DMI type 4, 50 bytes\n\tFlags:\n\t\tFPU (x)\n\t\tVME (y)\n\tA: b",
    ),
    { Handle: "Handle 0x1, DMI type 4, 50 bytes", Flags: ["FPU (x)", "VME (y)"], A: "b" },
  );
});

Deno.test("parseDmi() summarises BIOS, processors and memory of a two-socket server", () => {
  const dmi = parseDmi(testdata(SERVER));
  assert.equal(dmi.bios.Handle, "Handle 0x0000, DMI type 0, 26 bytes");
  assert.equal(dmi.bios.Vendor, "Dell Inc.");
  assert.equal(dmi.bios["BIOS Revision"], "1.9");
  const characteristics = dmi.bios.Characteristics as string[];
  assert.equal(characteristics.length, 20);
  assert.equal(characteristics[0], "ISA is supported");
  assert.equal(characteristics.at(-1), "UEFI is supported");
  // Type 13 (BIOS language) comes with `-t bios` but is not part of the summary.
  assert.equal(dmi.bios["Installable Languages"], undefined);

  assert.deepEqual(dmi.cpu.map((c) => c["Socket Designation"]), ["CPU1", "CPU2"]);
  assert.equal(dmi.cpu[0]!.Version, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz");
  assert.equal(dmi.cpu[1]!.Handle, "Handle 0x0401, DMI type 4, 50 bytes");
  assert.equal((dmi.cpu[0]!.Flags as string[]).length, 28);
  assert.deepEqual((dmi.cpu[0]!.Characteristics as string[]).slice(0, 2), [
    "64-bit capable",
    "Multi-Core supported",
  ]);
  // "L1 Cache Handle: 0x0700" is a field, not a block header.
  assert.equal(dmi.cpu[0]!["L1 Cache Handle"], "0x0700");

  // The first memory array, without its Handle, with the device count of both arrays.
  assert.equal(dmi.memory.Handle, undefined);
  assert.equal(dmi.memory["Number Of Devices"], 32);
  assert.equal(dmi.memory["Maximum Capacity"], "2 TB");
  assert.equal(dmi.memory["Error Correction Type"], "Multi-bit ECC");
  const devices = dmi.memory.devices!;
  assert.deepEqual(devices.map((d) => [d.Locator, d.Size]), [
    ["A1", "32 GB"],
    ["A2", "32 GB"],
    ["A3", "No Module Installed"],
    ["B1", "32 GB"],
  ]);
  assert.equal(devices[0]!.Handle, "Handle 0x1100, DMI type 17, 92 bytes");
  assert.equal(devices[0]!["Part Number"], "HMA84GR7DJR4N-XN");
  assert.equal(devices[3]!["Array Handle"], "0x1001");
});

Deno.test("parseDmi() of a machine without SMBIOS gives IPA's empty summary", () => {
  assert.deepEqual(parseDmi(testdata("dmidecode/vm-no-smbios.txt")), {
    bios: {},
    cpu: [],
    memory: { devices: [] },
  });
  // Arrays without devices: no `devices` key, as IPA replaces the memory object.
  const arrayOnly = parseDmi(
    "Handle 0x1000, DMI type 16, 23 bytes\nPhysical Memory Array\n\tNumber Of Devices: 4\n",
  );
  assert.deepEqual(arrayOnly.memory, { "Number Of Devices": 4 });
});

Deno.test("parseDmi() names the memory array whose device count is missing or not a number", () => {
  const text = testdata(SERVER);
  assert.throws(
    () => parseDmi(text.replace("Number Of Devices: 16\n", "Number Of Devices: many\n")),
    (err: unknown) =>
      err instanceof DmiFormatError &&
      /Handle 0x1000, DMI type 16, 23 bytes has the value "many"/.test(err.message),
  );
  assert.throws(
    () => parseDmi(text.replace(/\tNumber Of Devices: 16\n(?![\s\S]*Number Of Devices: 16)/, "")),
    (err: unknown) =>
      err instanceof DmiFormatError &&
      /Handle 0x1001, DMI type 16, 23 bytes has no such field/.test(err.message),
  );
});

Deno.test("collectDmi() asks dmidecode for the bios, processor and memory tables", async () => {
  const runner = fakeRunner((_l, cmd) => (cmd === "dmidecode" ? testdata(SERVER) : undefined));
  const dmi = await collectDmi(runner);
  assert.deepEqual(runner.calls, ["dmidecode -t bios -t processor -t memory"]);
  assert.equal(dmi.cpu.length, 2);
});

const managers = {
  dispatch: (() => Promise.reject(new Error("not used"))) as never,
  versions: () => ({}),
};

Deno.test("runCollectors() reports dmi-decode data and a dmidecode failure", async () => {
  const server = fakeRunner((_l, cmd) => (cmd === "dmidecode" ? testdata(SERVER) : undefined));
  const good = await runCollectors({ runner: server, log, managers, names: ["dmi-decode"] });
  assert.equal(good.data.error, null);
  assert.equal((good.data.dmi as { cpu: unknown[] }).cpu.length, 2);

  // dmidecode exits 1 without SMBIOS (recorded on this VM): no `dmi`, the reason in `error`.
  const vm = fakeRunner((_l, cmd) =>
    cmd === "dmidecode"
      ? { code: 1, stdout: "# dmidecode 3.4\n", stderr: "/dev/mem: No such file or directory" }
      : undefined
  );
  const failed = await runCollectors({ runner: vm, log, managers, names: ["dmi-decode"] });
  assert.equal(failed.data.dmi, undefined);
  assert.equal(failed.failures.length, 1);
  assert.match(
    failed.failures[0]!,
    /^Collector "dmi-decode" failed: failed to run dmidecode: .*exited with code 1.*\/dev\/mem/,
  );
  assert.match(String(failed.data.error), /^The following errors were encountered:\n\* /);

  // A device count that does not add up: `dmi` is `{}` and the reason is reported.
  const odd = fakeRunner((_l, cmd) =>
    cmd === "dmidecode"
      ? testdata(SERVER).replace("Number Of Devices: 16", "Number Of Devices: x")
      : undefined
  );
  const bad = await runCollectors({ runner: odd, log, managers, names: ["dmi-decode"] });
  assert.deepEqual(bad.data.dmi, {});
  assert.match(bad.failures[0]!, /Number Of Devices.*"x"/);
});
