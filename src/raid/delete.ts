/**
 * `raid.delete_configuration` (spec 12 §4): stops and erases the md arrays, zeroes md
 * superblocks left on disks and partitions, and wipes the holder disks, keeping arrays the
 * skip list protects by volume name. Two passes, as IPA: a first pass can reveal arrays that
 * were only assembled once their stacked arrays stopped.
 */
import { SoftwareRAIDError } from "../api/errors.ts";
import { findSkippedDevices, getSkipList } from "../hints/skip_list.ts";
import { listBlockDevices } from "../inventory/block_devices.ts";
import type { Logger } from "../log.ts";
import { assertMayWrite } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";
import { classifiedArrays, type MdArray } from "./arrays.ts";
import { diskPartitions, type RaidOptions } from "./create.ts";
import { hasMdSuperblock, holderOfPartition } from "./mdadm.ts";

async function zeroSuperblock(runner: Runner, device: string, log: Logger): Promise<void> {
  if (!(await hasMdSuperblock(runner, device))) return;
  log.info("Zeroing an md superblock", { device });
  await runner.run("mdadm", ["--zero-superblock", device], { timeoutMs: 60_000 });
}

async function onePass(options: RaidOptions, arrays: MdArray[]): Promise<void> {
  const { runner, log } = options;
  const kept = arrays.filter((a) => a.action !== "delete");
  const keptHolders = new Set(kept.flatMap((a) => a.holders));
  const keptMembers = new Set(kept.flatMap((a) => a.detail.components));
  const deleted = arrays.filter((a) => a.action === "delete");
  if (options.fence) {
    for (const array of arrays.filter((a) => a.action !== "keep")) {
      for (const h of array.holders) assertMayWrite(options.fence, h, "delete the RAID on");
    }
  }
  for (const array of arrays) {
    const arrayLog = log.with({ md: array.device, volume: array.detail.name ?? "" });
    if (array.action === "keep") {
      arrayLog.info("Keeping a software RAID volume protected by the skip list");
      continue;
    }
    await runner.run("wipefs", ["-af", array.device], { timeoutMs: 120_000 });
    if (array.action === "wipe") {
      arrayLog.info("Wiped a RAID volume sharing disks with a kept volume; the array stays");
      continue;
    }
    arrayLog.info("Stopping the RAID array", { members: array.detail.components.join(",") });
    await runner.run("mdadm", ["--stop", array.device], { timeoutMs: 120_000 });
    for (const member of array.detail.components) await zeroSuperblock(runner, member, arrayLog);
  }

  // Superblocks of arrays that were never assembled (spec 12 §4 step 3).
  const skipList = getSkipList(options.node);
  const disks = await listBlockDevices(runner, {
    onlyBlockDevices: options.onlyBlockDevices,
    allValues: true,
    log,
  });
  const skipped = new Set(findSkippedDevices(disks, skipList, log).map((d) => d.name));
  for (const disk of disks) {
    if (skipped.has(disk.name) || (disk.type ?? "").includes("raid")) continue;
    if (!keptHolders.has(disk.name)) await zeroSuperblock(runner, disk.name, log);
    for (const part of await diskPartitions(runner, disk.name)) {
      if (!keptMembers.has(part)) await zeroSuperblock(runner, part, log);
    }
  }

  // Holder disks of deleted arrays (spec 12 §4 step 4).
  const holders = [...new Set(deleted.flatMap((a) => a.holders))];
  for (const holder of holders) {
    if (!keptHolders.has(holder)) {
      await runner.run("wipefs", ["-af", holder], { timeoutMs: 120_000 });
      continue;
    }
    const mine = deleted.flatMap((a) => a.detail.components).filter((c) =>
      holderOfPartition(c) === holder
    );
    for (const part of mine) {
      const number = part.slice(holder.length).replace(/^p/, "");
      await runner.run("parted", [holder, "rm", number], { timeoutMs: 60_000 });
    }
  }
}

/** Deletes every visible array not protected by the skip list. */
export async function deleteConfiguration(options: RaidOptions): Promise<void> {
  const { runner, log } = options;
  const protectedNames = getSkipList(options.node).volumeNames;
  const scan = () =>
    classifiedArrays(runner, { onlyBlockDevices: options.onlyBlockDevices, protectedNames });
  for (let pass = 1; pass <= 2; pass++) {
    if (options.onlyBlockDevices.length === 0) {
      // Arrays whose members are present but not assembled are deleted too.
      await runner.run("mdadm", ["--assemble", "--scan"], {
        timeoutMs: 300_000,
        okCodes: [0, 1, 2],
      });
    } else {
      // --assemble --scan would also start arrays of disks outside --only-block-devices.
      log.info("Not assembling arrays: --only-block-devices restricts the agent to named devices");
    }
    const arrays = await scan();
    if (pass === 2 && !arrays.some((a) => a.action === "delete")) break;
    await onePass(options, arrays);
  }
  const remaining = (await scan()).filter((a) => a.action === "delete");
  if (remaining.length > 0) {
    throw new SoftwareRAIDError(
      `Unable to clean all softraid correctly. Remaining ${
        JSON.stringify(remaining.map((a) => a.device))
      }`,
    );
  }
  options.state.rootVolume = null;
  options.state.otherDevices = [];
}
