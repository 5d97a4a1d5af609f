import assert from "node:assert/strict";
import { parseBootif, parseLscpu, parseMemTotal } from "./hardware_info.ts";

const testdata = new URL("../../testdata/", import.meta.url);

Deno.test("parseLscpu() reads recorded lscpu -J output of a KVM guest", async () => {
  const cpu = parseLscpu(await Deno.readTextFile(new URL("lscpu/vm_x86_64.json", testdata)));
  assert.equal(cpu.model_name, "AMD EPYC");
  assert.equal(cpu.count, 2);
  assert.equal(cpu.architecture, "x86_64");
  assert.equal(cpu.socket_count, 1);
  assert.ok((cpu.flags as string[]).includes("sse2"));
  assert.equal(cpu.frequency, "");
});

Deno.test("parseLscpu() flattens the nested children of newer util-linux", () => {
  const cpu = parseLscpu(JSON.stringify({
    lscpu: [
      { field: "Architecture:", data: "aarch64" },
      { field: "CPU(s):", data: "80" },
      {
        field: "Model name:",
        data: "Neoverse-N1",
        children: [{ field: "Socket(s):", data: "1" }, {
          field: "CPU max MHz:",
          data: "3000.0000",
        }],
      },
    ],
  }));
  assert.deepEqual(cpu, {
    model_name: "Neoverse-N1",
    frequency: "3000.0000",
    count: 80,
    architecture: "aarch64",
    flags: [],
    socket_count: 1,
  });
});

Deno.test("parseMemTotal() converts kB to bytes", async () => {
  const meminfo = await Deno.readTextFile(new URL("proc/meminfo", testdata));
  const kb = Number(/MemTotal:\s+(\d+)/.exec(meminfo)![1]);
  assert.equal(parseMemTotal(meminfo), kb * 1024);
  assert.equal(parseMemTotal("MemFree: 1 kB"), null);
});

Deno.test("parseBootif() accepts the PXE and the virtual-media forms", () => {
  assert.equal(parseBootif("ro BOOTIF=01-52-54-00-12-34-56 quiet"), "52:54:00:12:34:56");
  assert.equal(parseBootif("BOOTIF=52:54:00:AB:CD:EF"), "52:54:00:ab:cd:ef");
  assert.equal(parseBootif("ipa-api-url=http://x"), null);
});
