/**
 * Reading software RAID state (spec 12 §5, §7): `mdadm --detail` parsing, the holder disks of
 * an array, the md arrays present, and partition naming.
 */
import type { Runner } from "../system/run.ts";
import { listDirectory } from "../system/sysfs.ts";

export interface MdDetail {
  /** The volume name: `Name : host:name` gives `name`. */
  name: string | null;
  /** `raid1`, `raid10`, ... */
  level: string | null;
  state: string | null;
  /** Member devices in array order (`/dev/sda1`); removed slots are absent. */
  components: string[];
}

/** Parses `mdadm --detail <md>` output. */
export function parseMdadmDetail(output: string): MdDetail {
  const field = (key: string): string | null => {
    const match = new RegExp(`^\\s*${key} : (.*)$`, "m").exec(output);
    return match ? match[1]!.trim() : null;
  };
  const rawName = field("Name");
  // "host:root  (local to host host)" -> "root"; a name without a host part stays as it is.
  const name = rawName === null ? null : rawName.split(/\s+/)[0]!.split(":").at(-1) ?? null;
  const table = output.split(/^\s*Number\s+Major\s+Minor\s+RaidDevice\s+State\s*$/m)[1] ?? "";
  const components = table
    .split("\n")
    .map((line) => /\s(\/dev\/\S+)\s*$/.exec(line)?.[1])
    .filter((d): d is string => d !== undefined);
  return { name, level: field("Raid Level"), state: field("State"), components };
}

/** `/dev/sda1` -> `/dev/sda`, `/dev/nvme0n1p1` -> `/dev/nvme0n1`, `/dev/loop3p2` -> `/dev/loop3`. */
export function holderOfPartition(partition: string): string {
  const withP = /^(.*\d)p\d+$/.exec(partition);
  if (withP) return withP[1]!;
  return partition.replace(/\d+$/, "");
}

/** Partition `k` of `disk`: a `p` separates the number when the disk name ends in a digit. */
export function partitionName(disk: string, k: number): string {
  return /\d$/.test(disk) ? `${disk}p${k}` : `${disk}${k}`;
}

/** Holder disks of an array, in member order, without duplicates (spec 12 §7). */
export function holderDisks(detail: MdDetail): string[] {
  return [...new Set(detail.components.map(holderOfPartition))];
}

/** The md arrays the kernel knows (`/sys/block/md<N>`), as `/dev/md<N>`, in numeric order. */
export async function listMdArrays(runner: Runner): Promise<string[]> {
  const names = (await listDirectory(runner, "/sys/block")).filter((n) => /^md\d+$/.test(n));
  return names.sort((a, b) => Number(a.slice(2)) - Number(b.slice(2))).map((n) => `/dev/${n}`);
}

export async function mdadmDetail(runner: Runner, md: string): Promise<MdDetail> {
  const { stdout } = await runner.run("mdadm", ["--detail", md], { timeoutMs: 60_000 });
  return parseMdadmDetail(stdout);
}

/** Whether `device` carries an md superblock (`mdadm --examine` succeeds). */
export async function hasMdSuperblock(runner: Runner, device: string): Promise<boolean> {
  const result = await runner.run("mdadm", ["--examine", device], {
    timeoutMs: 60_000,
    okCodes: [0, 1, 2],
  });
  return result.code === 0;
}
