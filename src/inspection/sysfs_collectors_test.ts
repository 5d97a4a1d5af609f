/** `pci-devices` and `numa-topology` on sysfs recorded from the test machine (testdata/sysfs). */
import assert from "node:assert/strict";
import { fakeRunner, testdata } from "../erase/_test_runner.ts";
import { collectPciDevices } from "./pci_devices.ts";
import { collectNumaTopology, NumaFormatError, parseCpuList } from "./numa_topology.ts";

/** Answers `find <dir>` and `grep -H` with the recordings of testdata/sysfs. */
function recordedSysfs() {
  const finds: Record<string, string> = {
    "/sys/bus/pci/devices": "sysfs/pci-devices.find.txt",
    "/sys/devices/system/node": "sysfs/node.find.txt",
    "/sys/devices/system/node/node0": "sysfs/node0.find.txt",
    "/sys/class/net": "sysfs/net.find.txt",
  };
  return fakeRunner((_line, cmd, args) => {
    if (cmd === "find") return testdata(finds[args[0]!]!);
    if (cmd !== "grep") return undefined;
    const first = args[args.indexOf("--") + 1]!;
    if (first.startsWith("/sys/bus/pci/")) return testdata("sysfs/pci-devices.grep.txt");
    if (first.startsWith("/sys/devices/system/node/node0/")) {
      return testdata("sysfs/node0.grep.txt");
    }
    if (first.startsWith("/sys/class/net/")) return { code: 2, stdout: "" };
    return undefined;
  });
}

Deno.test("collectPciDevices() reports every PCI function with hex ids without 0x", async () => {
  const devices = await collectPciDevices(recordedSysfs());
  assert.equal(devices.length, 6);
  assert.deepEqual(devices[0], {
    vendor_id: "8086",
    product_id: "0d57",
    class: "060000",
    revision: "00",
    bus: "0000:00:00.0",
    numa_node_id: "-1",
  });
  assert.ok(devices.every((d) => /^[0-9a-f]{4}$/.test(d.vendor_id ?? "")));
});

Deno.test("collectNumaTopology() reads node RAM, cores and NIC nodes", async () => {
  const topology = await collectNumaTopology(recordedSysfs());
  assert.deepEqual(topology.ram, [{ numa_node: 0, size_kb: 7956692 }]);
  assert.deepEqual(topology.cpus, [
    { cpu: 0, numa_node: 0, thread_siblings: [0] },
    { cpu: 1, numa_node: 0, thread_siblings: [1] },
  ]);
  // The recorded NICs (virtio, ifb, lo) have no device/numa_node.
  assert.deepEqual(topology.nics, []);
});

Deno.test("collectNumaTopology() merges hyper-threads of one core and fails on bad data", async () => {
  const files = new Map([
    ["/sys/devices/system/node/node1/meminfo", "Node 1 MemTotal:  1024 kB"],
    ["/sys/devices/system/node/node1/cpu2/topology/core_id", "5"],
    ["/sys/devices/system/node/node1/cpu2/topology/thread_siblings_list", "2,66"],
    ["/sys/devices/system/node/node1/cpu66/topology/core_id", "5"],
    ["/sys/devices/system/node/node1/cpu66/topology/thread_siblings_list", "2,66"],
    ["/sys/class/net/eno1/device/numa_node", "1"],
  ]);
  const runner = (broken: boolean) =>
    fakeRunner((_line, cmd, args) => {
      if (cmd === "find") {
        return {
          "/sys/devices/system/node": "node1\nonline\n",
          "/sys/devices/system/node/node1": "cpu2\ncpu66\nmeminfo\n",
          "/sys/class/net": "eno1\nlo\n",
        }[args[0]!];
      }
      const paths = args.slice(args.indexOf("--") + 1);
      return paths.filter((p) => files.has(p)).map((p) => {
        const text = broken && p.endsWith("core_id") ? "x" : files.get(p)!;
        return `${p}:${text}\n`;
      }).join("");
    });
  assert.deepEqual(await collectNumaTopology(runner(false)), {
    ram: [{ numa_node: 1, size_kb: 1024 }],
    cpus: [{ cpu: 5, numa_node: 1, thread_siblings: [2, 66] }],
    nics: [{ name: "eno1", numa_node: 1 }],
  });
  await assert.rejects(() => collectNumaTopology(runner(true)), NumaFormatError);
});

Deno.test("parseCpuList() expands ranges and rejects junk", () => {
  assert.deepEqual(parseCpuList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11]);
  assert.throws(() => parseCpuList("0-a"), NumaFormatError);
});
