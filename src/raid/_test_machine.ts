/**
 * A simulated machine for RAID unit tests: disks with partition tables, md arrays and md
 * superblocks, driven by the parted / mdadm / lsblk commands the RAID code issues. Every
 * command is recorded (`runner.calls`), so tests check the exact sequence.
 */
import { emptySysfs, type FakeRunner, fakeRunner } from "../erase/_test_runner.ts";
import { LSBLK_ARGS } from "../inventory/block_devices.ts";
import { holderOfPartition, partitionName } from "./mdadm.ts";

export interface SimArray {
  name: string;
  level: string;
  members: string[];
}

export interface SimMachine {
  runner: FakeRunner;
  /** Partition names per disk. */
  partitions: Map<string, string[]>;
  labels: Map<string, string>;
  arrays: Map<string, SimArray>;
  superblocks: Set<string>;
  uefi: boolean;
}

function detailText(md: string, array: SimArray): string {
  const rows = array.members.map((m, i) =>
    `       ${i}       8       ${i * 16 + 1}        ${i}      active sync   ${m}`
  );
  return [
    `${md}:`,
    "           Version : 1.2",
    `        Raid Level : raid${array.level}`,
    `      Raid Devices : ${array.members.length}`,
    "             State : clean ",
    "",
    `              Name : sim-host:${array.name}  (local to host sim-host)`,
    "            Events : 17",
    "",
    "    Number   Major   Minor   RaidDevice State",
    ...rows,
    "",
  ].join("\n");
}

export function simulateMachine(disks: string[], options: { uefi?: boolean } = {}): SimMachine {
  const partitions = new Map(disks.map((d) => [d, [] as string[]]));
  const labels = new Map<string, string>();
  const arrays = new Map<string, SimArray>();
  const superblocks = new Set<string>();
  const sim = { partitions, labels, arrays, superblocks, uefi: options.uefi ?? false };

  const runner = fakeRunner((line, cmd, args) => {
    if (line === ["lsblk", ...LSBLK_ARGS].join(" ")) {
      const row = (kname: string, type: string) => ({
        kname,
        model: null,
        size: 100 * 2 ** 30,
        rota: false,
        type,
        uuid: null,
        partuuid: null,
        serial: `SERIAL-${kname}`,
        wwn: null,
        "log-sec": 512,
        "phy-sec": 512,
        tran: null,
      });
      return JSON.stringify({
        blockdevices: [
          ...disks.map((d) => row(d.slice(5), "disk")),
          ...[...arrays].map(([md, a]) => row(md.slice(5), `raid${a.level}`)),
        ],
      });
    }
    if (cmd === "lsblk" && args[2] === "-oKNAME,TYPE") {
      const disk = args[3]!;
      return JSON.stringify({
        blockdevices: [
          { kname: disk.slice(5), type: "disk" },
          ...(partitions.get(disk) ?? []).map((p) => ({ kname: p.slice(5), type: "part" })),
        ],
      });
    }
    if (line === "find /sys/block -mindepth 1 -maxdepth 1 -printf %f\\n") {
      return [...disks.map((d) => d.slice(5)), ...[...arrays.keys()].map((m) => m.slice(5))]
        .map((n) => `${n}\n`).join("");
    }
    if (line === "find /sys/firmware/efi -maxdepth 0") return sim.uefi ? "/sys/firmware/efi\n" : "";
    if (cmd === "parted" && args.includes("mklabel")) {
      labels.set(args[0]!, args.at(-1)!);
      partitions.set(args[0]!, []);
      return "";
    }
    if (cmd === "parted" && args.includes("mkpart")) {
      const list = partitions.get(args[0]!)!;
      list.push(partitionName(args[0]!, list.length + 1));
      return "";
    }
    if (cmd === "parted" && args[1] === "rm") {
      const part = partitionName(args[0]!, Number(args[2]));
      partitions.set(args[0]!, partitions.get(args[0]!)!.filter((p) => p !== part));
      return "";
    }
    if (line.startsWith("sgdisk -F")) return "2048\n";
    if (cmd === "partx" || cmd === "udevadm") return "";
    if (cmd === "wipefs") {
      const target = args.at(-1)!;
      if (partitions.has(target)) {
        partitions.set(target, []);
        labels.delete(target);
      }
      return "";
    }
    if (cmd === "mdadm") {
      const [op, target] = args;
      if (op === "--create") {
        const name = args[args.indexOf("--name") + 1]!;
        const level = args[args.indexOf("--level") + 1]!;
        const n = Number(args[args.indexOf("--raid-devices") + 1]);
        const members = args.slice(-n);
        for (const m of members) {
          if (!partitions.get(holderOfPartition(m))?.includes(m)) {
            return { code: 1, stderr: `mdadm: cannot open ${m}: No such file or directory` };
          }
          superblocks.add(m);
        }
        arrays.set(target!, { name, level, members });
        return "";
      }
      if (op === "--detail") {
        const array = arrays.get(target!);
        return array ? detailText(target!, array) : { code: 1, stderr: "mdadm: cannot open" };
      }
      if (op === "--examine") return { code: superblocks.has(target!) ? 0 : 1 };
      if (op === "--stop") {
        arrays.delete(target!);
        return "";
      }
      if (op === "--zero-superblock") {
        superblocks.delete(target!);
        return "";
      }
      if (op === "--assemble") return { code: 2 };
    }
    return undefined;
  }, emptySysfs);
  return { runner, ...sim };
}
