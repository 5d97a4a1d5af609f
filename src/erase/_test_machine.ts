/**
 * A simulated machine for erase unit tests: a list of block devices answers the lsblk, blkid,
 * sysfs, blockdev and NVMe commands the erase code issues, and accepts every write (wipefs, dd,
 * sgdisk, nvme format). Compose it after a test's own handlers to script failures:
 *
 *   const runner = fakeRunner(failing, machine(devices), emptySysfs);
 */
import type { Node } from "../hardware/manager.ts";
import { LSBLK_ARGS } from "../inventory/block_devices.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { type Handler, testdata } from "./_test_runner.ts";
import { PROBE_LSBLK_ARGS } from "./probe.ts";

const GiB = 2 ** 30;

export interface FakeDevice {
  kname: string;
  type: string;
  /** Bytes; 100 GiB. */
  size?: number;
  /** The kname of the disk (or partition) this one sits on. */
  parent?: string;
  serial?: string;
  readOnly?: boolean;
  fstype?: string;
  parttype?: string;
  /** The virtual media floppy image (`/dev/disk/by-label/ir-vfd-dev` points here). */
  virtualMedia?: boolean;
  /** testdata/ file that answers `nvme id-ctrl` for this device. */
  nvmeIdCtrl?: string;
}

function lsblkRow(d: FakeDevice) {
  return {
    kname: d.kname,
    model: null,
    size: d.size ?? 100 * GiB,
    rota: false,
    type: d.type,
    uuid: null,
    partuuid: null,
    serial: d.serial ?? null,
    wwn: null,
    "log-sec": 512,
    "phy-sec": 512,
    tran: null,
  };
}

/** The device `kname` followed by everything on it, depth first. */
function withDescendants(devices: readonly FakeDevice[], kname: string): FakeDevice[] {
  const self = devices.filter((d) => d.kname === kname);
  const children = devices.filter((d) => d.parent === kname);
  return [...self, ...children.flatMap((c) => withDescendants(devices, c.kname))];
}

/** Answers the commands of the erase code from `devices`; `undefined` for anything else. */
export function machine(devices: readonly FakeDevice[]): Handler {
  return (line, cmd, args) => {
    if (line === ["lsblk", ...LSBLK_ARGS].join(" ")) {
      return JSON.stringify({ blockdevices: devices.map(lsblkRow) });
    }
    const target = (args.at(-1) ?? "").replace(/^\/dev\//, "");
    const device = devices.find((d) => d.kname === target);
    if (line === `lsblk -bia --json -oKNAME /dev/${target}`) {
      return JSON.stringify({
        blockdevices: withDescendants(devices, target).map((d) => ({ kname: d.kname })),
      });
    }
    if (line === ["lsblk", ...PROBE_LSBLK_ARGS, `/dev/${target}`].join(" ")) {
      return JSON.stringify({
        blockdevices: withDescendants(devices, target).map((d) => ({
          kname: d.kname,
          uuid: null,
          ptuuid: null,
          parttype: d.parttype ?? null,
          partuuid: null,
          fstype: d.fstype ?? null,
        })),
      });
    }
    if (cmd === "blkid") return { code: 2, stdout: "" };
    if (cmd === "grep") {
      return args
        .filter((p) => p.endsWith("/ro"))
        .map((p) => {
          const k = p.split("/")[4];
          return `${p}:${devices.find((d) => d.kname === k)?.readOnly ? 1 : 0}\n`;
        })
        .join("");
    }
    if (line === "readlink -e -- /dev/disk/by-label/ir-vfd-dev") {
      const media = devices.find((d) => d.virtualMedia);
      return media ? `/dev/${media.kname}\n` : { code: 1, stdout: "" };
    }
    const idCtrl = /^nvme id-ctrl \/dev\/(\S+) -o json$/.exec(line);
    const nvme = idCtrl ? devices.find((d) => d.kname === idCtrl[1]) : undefined;
    if (nvme?.nvmeIdCtrl) return testdata(nvme.nvmeIdCtrl);
    if (line.startsWith("nvme format")) return "Success formatting namespace:1\n";
    if (line.startsWith("blockdev --getss")) return "512\n";
    if (line.startsWith("blockdev --getsize64")) return `${device?.size ?? 100 * GiB}\n`;
    if (cmd === "wipefs" || cmd === "dd" || cmd === "sgdisk") return "";
    if (cmd === "fuser") return { code: 1, stdout: "" };
    return undefined;
  };
}

/** The options every erase entry point takes, for a node with nothing set and no waiting. */
export function eraseOptions(runner: Runner, log: Logger): {
  runner: Runner;
  log: Logger;
  node: Node;
  onlyBlockDevices: readonly string[];
  guardSpecialFilesystems: boolean;
  sleep: (ms: number) => Promise<void>;
} {
  return {
    runner,
    log,
    node: { uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123" },
    onlyBlockDevices: [],
    guardSpecialFilesystems: true,
    sleep: () => Promise.resolve(),
  };
}
