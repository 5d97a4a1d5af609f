import assert from "node:assert/strict";
import { collectCpu, parseCpuinfoFlags } from "./cpu.ts";
import { fakeRunner } from "../erase/_test_runner.ts";

const testdata = new URL("../../testdata/", import.meta.url);

Deno.test("parseCpuinfoFlags() reads the flags of the recorded first processor block", async () => {
  const text = await Deno.readTextFile(new URL("proc/cpuinfo-vm-first-block", testdata));
  const flags = parseCpuinfoFlags(text);
  assert.ok(flags.includes("sse2") && flags.includes("fpu"), flags.join(" "));
  assert.equal(flags.some((f) => /[A-Z]/.test(f)), false);
});

Deno.test("parseCpuinfoFlags() reads arm Features and ignores a line with punctuation", () => {
  assert.deepEqual(parseCpuinfoFlags("processor\t: 0\nFeatures\t: fp asimd evtstrm\n\nx"), [
    "fp",
    "asimd",
    "evtstrm",
  ]);
  assert.deepEqual(parseCpuinfoFlags("flags\t: Fancy, Flags!\n"), []);
  assert.deepEqual(parseCpuinfoFlags("processor: 0\n"), []);
});

Deno.test("collectCpu() falls back to /proc/cpuinfo when lscpu lists no flags", async () => {
  const runner = fakeRunner((_l, cmd) => {
    if (cmd === "lscpu") {
      return JSON.stringify({
        lscpu: [{ field: "Architecture:", data: "aarch64" }, { field: "CPU(s):", data: "4" }],
      });
    }
    if (cmd === "cat") return "processor\t: 0\nFeatures\t: fp asimd\n\nprocessor\t: 1\n";
    return undefined;
  });
  const cpu = await collectCpu(runner);
  assert.deepEqual(cpu.flags, ["fp", "asimd"]);
  assert.equal(cpu.count, 4);
  assert.ok(runner.calls.includes("cat -- /proc/cpuinfo"));
});
