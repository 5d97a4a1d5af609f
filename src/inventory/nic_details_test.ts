import assert from "node:assert/strict";
import { addBiosdevnames, speedsFromLshw } from "./nic_details.ts";
import { parseLshw } from "./lshw.ts";
import { fakeRunner } from "../erase/_test_runner.ts";
import { ToolError } from "../system/run.ts";
import { Logger } from "../log.ts";
import { nic } from "./_test_nics.ts";

const testdata = new URL("../../testdata/", import.meta.url);

Deno.test("speedsFromLshw() prefers capacity, falls back to size, converts to Mbit/s", async () => {
  const root = parseLshw(await Deno.readTextFile(new URL("lshw/server-hand.json", testdata)));
  assert.deepEqual(
    [...speedsFromLshw(root)],
    [["eno1", 10000], ["eno2", 25000], ["eno2d1", 25000]],
  );
});

Deno.test("speedsFromLshw() finds no speed for the recorded virtio NIC", async () => {
  const root = parseLshw(await Deno.readTextFile(new URL("lshw/vm-kvm-02.19.json", testdata)));
  assert.equal(speedsFromLshw(root).size, 0);
});

Deno.test("addBiosdevnames() keeps names, maps exit 4 to null and skips VLANs", async () => {
  const runner = fakeRunner((_l, _c, args) =>
    args[1] === "em1" ? "em1\n" : args[1] === "eth1" ? { code: 4, stdout: "" } : undefined
  );
  const nics = [nic("em1"), nic("eth1"), nic("em1.100")];
  await addBiosdevnames(runner, new Logger(), nics);
  assert.deepEqual(nics.map((n) => n.biosdevname), ["em1", null, null]);
  assert.deepEqual(runner.calls, ["biosdevname -i em1", "biosdevname -i eth1"]);
});

Deno.test("addBiosdevnames() stops after the first call when the tool is missing", async () => {
  const runner = fakeRunner(() =>
    new ToolError({ command: "biosdevname", exitCode: null, stderr: "" }, "could not start")
  );
  const nics = [nic("eth0"), nic("eth1")];
  await addBiosdevnames(runner, new Logger(), nics);
  assert.equal(runner.calls.length, 1);
  assert.deepEqual(nics.map((n) => n.biosdevname), [null, null]);
});
