/**
 * `poll.get_hardware_info` on this machine, through the real agent under its production grants:
 * the inventory must pass the spec 05 schema, and its disk and NIC lists must agree with what
 * `lsblk` and /sys/class/net say (read here directly, not through the agent's code).
 */
import assert from "node:assert/strict";
import { inventorySchema } from "../src/inventory/schema.ts";
import { startStandaloneAgent } from "./harness/standalone_agent.ts";

async function lsblkDisks(): Promise<string[]> {
  const out = await new Deno.Command("lsblk", {
    args: ["-bdJ", "-o", "KNAME,TYPE,SIZE"],
    env: { LC_ALL: "C" },
  }).output();
  const parsed = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    blockdevices: { kname: string; type: string; size: number | string }[];
  };
  // The inventory's filter (spec 05 §5): disks, RAID volumes and multipath maps with a size.
  return parsed.blockdevices
    .filter((d) => d.type === "disk" || d.type.includes("raid") || d.type === "mpath")
    .filter((d) => Number(d.size) > 0 && !/^(ram|zram|fd)/.test(d.kname))
    .map((d) => `/dev/${d.kname}`)
    .sort();
}

async function sysNics(): Promise<Map<string, string>> {
  const nics = new Map<string, string>();
  for await (const entry of Deno.readDir("/sys/class/net")) {
    const dir = `/sys/class/net/${entry.name}`;
    const physical = await Deno.stat(`${dir}/device`).then(() => true, () => false);
    const bond = await Deno.stat(`${dir}/bonding`).then(() => true, () => false);
    if (!physical && !bond && !/\.\d+$/.test(entry.name)) continue;
    const mac = (await Deno.readTextFile(`${dir}/address`)).trim();
    if (mac === "00:00:00:00:00:00" || mac.startsWith("fa:")) continue;
    nics.set(entry.name, mac);
  }
  return nics;
}

Deno.test("poll.get_hardware_info describes this machine as lsblk and /sys/class/net do", async () => {
  await using agent = await startStandaloneAgent();
  const { status, body } = await agent.command("poll.get_hardware_info", {});
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.command_status, "SUCCEEDED", JSON.stringify(body.command_error));

  const parsed = inventorySchema.safeParse(body.command_result);
  assert.ok(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues, null, 1));
  const inventory = parsed.data!;

  assert.deepEqual(inventory.disks.map((d) => d.name).sort(), await lsblkDisks());
  const nics = await sysNics();
  assert.deepEqual(
    Object.fromEntries(inventory.interfaces.map((i) => [i.name, i.mac_address])),
    Object.fromEntries(nics),
  );

  const meminfo = await Deno.readTextFile("/proc/meminfo");
  assert.equal(inventory.memory.total, Number(/MemTotal:\s+(\d+)/.exec(meminfo)![1]) * 1024);
  assert.equal(inventory.cpu.count, navigator.hardwareConcurrency);
  assert.equal(inventory.hostname, Deno.hostname());
  // lshw and dmidecode are installed here: the log must not report them missing.
  assert.doesNotMatch(agent.logText(), /could not collect (lshw data|cpu|disks|interfaces)/);
});
