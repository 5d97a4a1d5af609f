/**
 * `lshw -quiet -json`, run once per inventory (spec 05 §1) and shared by memory, system vendor
 * and interface speed. Older lshw prints a list; the first element is the machine.
 */
import type { Runner } from "../system/run.ts";

/** One node of the lshw tree; only the members the inventory reads are typed. */
export interface LshwNode {
  id?: string;
  class?: string;
  product?: string;
  vendor?: string;
  serial?: string;
  version?: string;
  date?: string;
  logicalname?: string | string[];
  size?: number;
  capacity?: number;
  units?: string;
  children?: LshwNode[];
}

/** Parses lshw JSON; a list yields its first element. */
export function parseLshw(json: string): LshwNode {
  const parsed = JSON.parse(json) as LshwNode | LshwNode[];
  const root = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!root || typeof root !== "object") {
    throw new SyntaxError("lshw printed no machine object");
  }
  return root;
}

/** Runs lshw (it probes every bus, so it gets a generous timeout). */
export async function readLshw(runner: Runner): Promise<LshwNode> {
  const result = await runner.run("lshw", ["-quiet", "-json"], { timeoutMs: 120_000 });
  return parseLshw(result.stdout);
}

/** Every node of the tree, depth first. */
export function* walkLshw(node: LshwNode): Generator<LshwNode> {
  yield node;
  for (const child of node.children ?? []) yield* walkLshw(child);
}

/** The `core` child (the motherboard), where memory and firmware live. */
export function lshwCore(root: LshwNode): LshwNode | undefined {
  return root.children?.find((c) => c.id === "core");
}
