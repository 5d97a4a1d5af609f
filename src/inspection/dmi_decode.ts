/**
 * The `dmi-decode` collector (spec 06 §3): `dmidecode -t bios -t processor -t memory` parsed
 * into `{bios, cpu, memory}` the way IPA's dmi_inspector does, so inspection rules written
 * against IPA's `dmi` data keep matching:
 *
 * - a block is the text between blank lines that starts with `Handle 0x`; its type is the
 *   number after `DMI type`;
 * - `Key: value` lines become string fields; `Key:` with nothing after it starts a list that
 *   collects the following lines without a colon (Characteristics, Flags);
 * - the `Handle ...` line itself is kept as the `Handle` field;
 * - type 0 → `bios`, type 4 → one `cpu` entry each, the first type 16 block → `memory` with
 *   `Number Of Devices` summed over every type 16 block (and its `Handle` dropped), and type 17
 *   blocks → `memory.devices`.
 */
import type { Runner } from "../system/run.ts";

export type DmiBlock = Record<string, string | string[]>;

export interface DmiData {
  bios: DmiBlock;
  cpu: DmiBlock[];
  memory: Record<string, string | string[] | number | DmiBlock[]> & { devices?: DmiBlock[] };
}

/** dmidecode output that cannot be summarised as IPA does; names the block and the field. */
export class DmiFormatError extends Error {}

const BIOS = 0;
const PROCESSOR = 4;
const MEMORY_ARRAY = 16;
const MEMORY_DEVICE = 17;

/** The fields of one block; lines are trimmed as dmidecode indents them with tabs. */
export function parseHandleBlock(block: string): DmiBlock {
  const rows: DmiBlock = {};
  let list: string[] | null = null;
  for (const raw of block.split("\n")) {
    const line = raw.trim();
    const colon = line.indexOf(":");
    if (colon >= 0) {
      const key = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (value) {
        rows[key] = value;
        list = null;
      } else {
        list = rows[key] = [];
      }
    } else if (line.includes("Handle 0x")) {
      rows.Handle = line;
    } else if (list && line) {
      list.push(line);
    }
  }
  return rows;
}

/** `Handle 0x0018, DMI type 17, 40 bytes` → 17; null when the line does not say. */
function dmiType(block: string): number | null {
  const m = /^Handle 0x[0-9A-Fa-f]+,\s*DMI type (\d+),/.exec(block);
  return m ? Number(m[1]) : null;
}

export function parseDmi(output: string): DmiData {
  const dmi: DmiData = { bios: {}, cpu: [], memory: { devices: [] } };
  const arrays: DmiBlock[] = [];
  const devices: DmiBlock[] = [];
  for (const block of output.split("\n\n")) {
    if (!block.startsWith("Handle 0x")) continue;
    const type = dmiType(block);
    if (type === BIOS) dmi.bios = parseHandleBlock(block);
    else if (type === PROCESSOR) dmi.cpu.push(parseHandleBlock(block));
    else if (type === MEMORY_ARRAY) arrays.push(parseHandleBlock(block));
    else if (type === MEMORY_DEVICE) devices.push(parseHandleBlock(block));
  }
  if (arrays.length > 0) {
    let count = 0;
    for (const array of arrays) {
      const value = array["Number Of Devices"];
      if (typeof value !== "string" || !/^\d+$/.test(value)) {
        throw new DmiFormatError(
          `Cannot sum "Number Of Devices" of the memory arrays: ${array.Handle ?? "a block"} ` +
            `has ${value === undefined ? "no such field" : `the value ${JSON.stringify(value)}`}`,
        );
      }
      count += Number(value);
    }
    const { Handle: _handle, ...first } = arrays[0]!;
    dmi.memory = { ...first, "Number Of Devices": count };
  }
  if (devices.length > 0) dmi.memory.devices = devices;
  return dmi;
}

/** Runs dmidecode for BIOS, processor and memory tables (the `dmi` key of the data). */
export async function collectDmi(runner: Runner): Promise<DmiData> {
  const { stdout } = await runner.run(
    "dmidecode",
    ["-t", "bios", "-t", "processor", "-t", "memory"],
    { timeoutMs: 60_000 },
  );
  return parseDmi(stdout);
}
