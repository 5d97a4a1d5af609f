/**
 * The config-drive partition of a whole-disk image (spec 08 §8.2 steps 1, 3 and 4): reuse the
 * partition labelled `config-2`, or create one in the last 64 MiB of the disk (GPT: `sgdisk`;
 * MBR: `parted`, with IPA's fixed bounds on disks over 2 TiB).
 *
 * Labels and PARTUUIDs are read with `blkid -p` (a direct probe of the partition) rather than
 * IPA's `lsblk`, because lsblk takes them from the udev database, which is stale right after a
 * repartition and empty where udev does not run.
 */
import { DeploymentError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { pathExists } from "../system/sysfs.ts";
import { fixGpt, readPartitionTable, rescanDevice } from "./partition_table.ts";
import { abortableSleep, type Sleep } from "./sleep.ts";

const TOOL_TIMEOUT_MS = 2 * 60 * 1000;
/** IPA's MBR bounds for disks over 2 TiB (2097152 MiB), in parted's default unit (MB). */
const MBR_2TIB_MIB = 2097152;
const MBR_2TIB_START = "2097087";
const MBR_2TIB_END = "2097151";

export interface ConfigDrivePartitionOptions {
  log: Logger;
  /** Generates the new GPT partition's UUID (tests pin it). */
  randomUuid?: () => string;
  sleep?: Sleep;
  /** Tries of the partition-node check (IPA: 15). */
  nodeAttempts?: number;
}

/** `<dev><n>`, or `<dev>p<n>` when the device name ends with a digit (`nvme0n1p2`, `loop3p1`). */
export function partitionPath(device: string, number: number): string {
  return `${device}${/\d$/.test(device) ? "p" : ""}${number}`;
}

/** Parses `blkid -o export` (`KEY=value` lines). */
export function parseBlkidExport(stdout: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    // blkid escapes spaces and shell metacharacters with a backslash.
    if (match) fields[match[1]!] = match[2]!.replace(/\\(.)/g, "$1");
  }
  return fields;
}

/** Probes one partition; `{}` when blkid recognises nothing (exit code 2). */
export async function probePartition(
  runner: Runner,
  partition: string,
): Promise<Record<string, string>> {
  const result = await runner.run("blkid", ["-p", "-o", "export", partition], {
    timeoutMs: TOOL_TIMEOUT_MS,
    okCodes: [0, 2],
  });
  return parseBlkidExport(result.stdout);
}

/** Parses `lsblk -P -p -n -o NAME,TYPE <dev>`: the partition paths. */
export function parseLsblkPartitions(stdout: string): string[] {
  const names: string[] = [];
  for (const line of stdout.split("\n")) {
    const name = /NAME="([^"]*)"/.exec(line)?.[1];
    const type = /TYPE="([^"]*)"/.exec(line)?.[1];
    if (name && type === "part") names.push(name);
  }
  return names;
}

async function listPartitions(runner: Runner, device: string): Promise<string[]> {
  const result = await runner.run("lsblk", ["-P", "-p", "-n", "-o", "NAME,TYPE", device], {
    timeoutMs: TOOL_TIMEOUT_MS,
  });
  return parseLsblkPartitions(result.stdout);
}

/** The partition labelled `config-2` (any case), null when none; two of them are an error. */
async function findConfigDrivePartition(runner: Runner, device: string): Promise<string | null> {
  const found: string[] = [];
  for (const partition of await listPartitions(runner, device)) {
    const label = (await probePartition(runner, partition)).LABEL ?? "";
    if (label.toLowerCase() === "config-2") found.push(partition);
  }
  if (found.length > 1) {
    throw new DeploymentError(
      `Cannot create the config drive on ${device}: more than one partition is labelled ` +
        `config-2 (${found.join(", ")})`,
    );
  }
  return found[0] ?? null;
}

/**
 * Parses `partprobe -d -s <dev>` (`/dev/sda: msdos partitions 1 2 <5 6>`): primary (and
 * extended) partitions, and logical ones (in angle brackets). Null when not an msdos label.
 */
export function parseMbrPartitionCount(
  stdout: string,
): { primary: number; logical: number } | null {
  const match = /msdos partitions\s*(.*)$/m.exec(stdout);
  if (!match) return null;
  const logicalPart = /<([^>]*)>/.exec(match[1]!)?.[1] ?? "";
  const primaryPart = match[1]!.replace(/<[^>]*>/, "");
  const count = (text: string) => text.split(/\s+/).filter((n) => /^\d+$/.test(n)).length;
  return { primary: count(primaryPart), logical: count(logicalPart) };
}

async function createGptPartition(
  runner: Runner,
  device: string,
  options: ConfigDrivePartitionOptions,
): Promise<string> {
  const uuid = (options.randomUuid ?? (() => crypto.randomUUID()))();
  options.log.info("creating the config-drive partition (GPT)", { device, partuuid: uuid });
  await runner.run("sgdisk", ["-n", "0:-64MB:0", "-u", `0:${uuid}`, device], {
    timeoutMs: TOOL_TIMEOUT_MS,
  });
  await rescanDevice(runner, device, { log: options.log, sleep: options.sleep });
  for (const partition of await listPartitions(runner, device)) {
    const fields = await probePartition(runner, partition);
    if (fields.PART_ENTRY_UUID?.toLowerCase() === uuid.toLowerCase()) return partition;
  }
  throw new DeploymentError(
    `Cannot find the new config-drive partition with PARTUUID ${uuid} on ${device}`,
  );
}

async function createMbrPartition(
  runner: Runner,
  device: string,
  deviceBytes: number,
  options: ConfigDrivePartitionOptions,
): Promise<string> {
  const probe = await runner.run("partprobe", ["-d", "-s", device], { timeoutMs: TOOL_TIMEOUT_MS });
  const counts = parseMbrPartitionCount(probe.stdout);
  if (!counts) {
    throw new DeploymentError(
      `Cannot create the config drive on ${device}: cannot count its MBR partitions from ` +
        `"partprobe -d -s" output ${JSON.stringify(probe.stdout.trim())}`,
    );
  }
  if (counts.primary > 3) {
    throw new DeploymentError(
      `Config drive cannot be created on ${device}: it uses MBR partitioning and already has ` +
        `${counts.primary} primary partitions`,
    );
  }
  const before = new Set((await readPartitionTable(runner, device)).partitions);
  const over2TiB = deviceBytes / 1048576 > MBR_2TIB_MIB;
  const [start, end] = over2TiB ? [MBR_2TIB_START, MBR_2TIB_END] : ["-64MiB", "-0"];
  options.log.info("creating the config-drive partition (MBR)", { device, start, end });
  await runner.run(
    "parted",
    ["-a", "optimal", "-s", "--", device, "mkpart", "primary", "fat32", start, end],
    { timeoutMs: TOOL_TIMEOUT_MS },
  );
  await rescanDevice(runner, device, { log: options.log, sleep: options.sleep });
  const added = (await readPartitionTable(runner, device)).partitions.filter((n) => !before.has(n));
  if (added.length !== 1) {
    throw new DeploymentError(
      `Cannot find the new config-drive partition on ${device}: parted added ` +
        `${added.length} partitions`,
    );
  }
  return partitionPath(device, added[0]!);
}

async function waitForNode(
  runner: Runner,
  partition: string,
  options: ConfigDrivePartitionOptions,
): Promise<void> {
  const attempts = options.nodeAttempts ?? 15;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (await pathExists(runner, partition)) return;
    await (options.sleep ?? abortableSleep)(1000);
  }
  throw new DeploymentError(`The config-drive partition ${partition} did not appear`);
}

/**
 * Returns the partition to write the config drive to, creating it when the disk has none
 * labelled `config-2`. Throws `DeploymentError`.
 */
export async function prepareConfigDrivePartition(
  runner: Runner,
  device: string,
  options: ConfigDrivePartitionOptions,
): Promise<string> {
  await rescanDevice(runner, device, { log: options.log, sleep: options.sleep });
  const existing = await findConfigDrivePartition(runner, device);
  if (existing) {
    options.log.info("reusing the existing config-drive partition", { device, existing });
    return existing;
  }
  await fixGpt(runner, device, { log: options.log, sleep: options.sleep });
  const table = await readPartitionTable(runner, device).catch((err) => {
    throw new DeploymentError(
      `Cannot create the config drive on ${device}: no readable partition table`,
      { cause: err },
    );
  });
  let partition: string;
  if (table.type === "gpt") {
    partition = await createGptPartition(runner, device, options);
  } else if (table.type === "msdos") {
    const size = await runner.run("blockdev", ["--getsize64", device], {
      timeoutMs: TOOL_TIMEOUT_MS,
    });
    partition = await createMbrPartition(runner, device, Number(size.stdout.trim()), options);
  } else {
    throw new DeploymentError(
      `Cannot create the config drive on ${device}: partition table type "${table.type}" is ` +
        "neither gpt nor msdos",
    );
  }
  await waitForNode(runner, partition, options);
  return partition;
}
