/**
 * The `numa-topology` collector (spec 06 §3): RAM per node from `node<N>/meminfo`, physical
 * cores per node with their thread siblings, and the node of each NIC.
 */
import { listDirectory, readSystemFiles } from "../system/sysfs.ts";
import type { Runner } from "../system/run.ts";

const NODE_DIR = "/sys/devices/system/node";

export interface NumaTopology {
  ram: { numa_node: number; size_kb: number }[];
  cpus: { cpu: number; numa_node: number; thread_siblings: number[] }[];
  nics: { name: string; numa_node: number }[];
}

/** A NUMA file that does not read as expected; the collector then leaves the key out. */
export class NumaFormatError extends Error {}

/** `0-3,8,10-11` → [0, 1, 2, 3, 8, 10, 11]. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new NumaFormatError(`Cannot parse CPU list ${JSON.stringify(text.trim())}`);
    const low = Number(m[1]);
    const high = m[2] === undefined ? low : Number(m[2]);
    for (let cpu = low; cpu <= high; cpu++) out.push(cpu);
  }
  return out;
}

/** `Node 0 MemTotal:  263854080 kB` in a node's meminfo → 263854080. */
export function parseNodeMemTotal(meminfo: string, node: number): number {
  const m = new RegExp(`^Node ${node} MemTotal:\\s+(\\d+) kB$`, "m").exec(meminfo);
  if (!m) throw new NumaFormatError(`No "MemTotal" line in the meminfo of NUMA node ${node}`);
  return Number(m[1]);
}

function integer(text: string | undefined, what: string): number {
  const value = Number(text?.trim());
  if (text === undefined || !Number.isInteger(value)) {
    throw new NumaFormatError(`Cannot read ${what}: ${JSON.stringify(text ?? null)}`);
  }
  return value;
}

/** Throws `NumaFormatError` when the machine has no NUMA information or it does not parse. */
export async function collectNumaTopology(runner: Runner): Promise<NumaTopology> {
  const nodes = (await listDirectory(runner, NODE_DIR))
    .map((name) => /^node(\d+)$/.exec(name)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number);
  if (nodes.length === 0) throw new NumaFormatError(`No NUMA nodes under ${NODE_DIR}`);
  const topology: NumaTopology = { ram: [], cpus: [], nics: [] };
  for (const node of nodes) {
    const dir = `${NODE_DIR}/node${node}`;
    const cpus = (await listDirectory(runner, dir)).filter((n) => /^cpu\d+$/.test(n));
    const files = await readSystemFiles(runner, [
      `${dir}/meminfo`,
      ...cpus.flatMap((c) => [
        `${dir}/${c}/topology/core_id`,
        `${dir}/${c}/topology/thread_siblings_list`,
      ]),
    ]);
    const meminfo = files.get(`${dir}/meminfo`);
    if (meminfo === undefined) throw new NumaFormatError(`Cannot read ${dir}/meminfo`);
    topology.ram.push({ numa_node: node, size_kb: parseNodeMemTotal(meminfo, node) });
    // One entry per physical core: hyper-threads share a core_id and are listed as siblings.
    const cores = new Map<number, Set<number>>();
    for (const cpu of cpus) {
      const coreId = integer(files.get(`${dir}/${cpu}/topology/core_id`), `${cpu} core_id`);
      const siblings = files.get(`${dir}/${cpu}/topology/thread_siblings_list`);
      if (siblings === undefined) throw new NumaFormatError(`Cannot read ${cpu} siblings`);
      const set = cores.get(coreId) ?? new Set<number>();
      for (const s of parseCpuList(siblings)) set.add(s);
      cores.set(coreId, set);
    }
    for (const [cpu, siblings] of [...cores].sort((a, b) => a[0] - b[0])) {
      topology.cpus.push({
        cpu,
        numa_node: node,
        thread_siblings: [...siblings].sort((a, b) => a - b),
      });
    }
  }
  const nics = await listDirectory(runner, "/sys/class/net");
  const nicNodes = await readSystemFiles(
    runner,
    nics.map((nic) => `/sys/class/net/${nic}/device/numa_node`),
  );
  for (const nic of nics) {
    const text = nicNodes.get(`/sys/class/net/${nic}/device/numa_node`);
    if (text === undefined) continue; // Virtual NICs have no device.
    topology.nics.push({ name: nic, numa_node: integer(text, `the NUMA node of ${nic}`) });
  }
  return topology;
}
