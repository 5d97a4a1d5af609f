/**
 * The archive of `log.collect_system_logs` (spec 03 §5): command outputs, udev data of block
 * devices and the agent's own recent log, as a base64 gzip tar. Missing tools are skipped; every
 * tool has a timeout so the whole call stays inside the conductor's 60 s HTTP timeout.
 */
import type { Logger } from "../log.ts";
import type { Runner } from "./run.ts";
import { listDirectory } from "./sysfs.ts";

/** Member name → command line. */
const COMMANDS: Record<string, [string, string[]]> = {
  journal: ["journalctl", ["--full", "--no-pager", "-b"]],
  df: ["df", ["-a"]],
  dmesg: ["dmesg", []],
  efibootmgr: ["efibootmgr", ["-v"]],
  ip_addr: ["ip", ["addr"]],
  lsblk: ["lsblk", [
    "--all",
    "-oKNAME,MODEL,SIZE,ROTA,TYPE,UUID,PARTUUID,SERIAL,WWN,LOG-SEC,PHY-SEC,TRAN",
  ]],
  "lsblk-full": ["lsblk", ["--all", "--bytes", "--output-all", "--pairs"]],
  mdstat: ["cat", ["/proc/mdstat"]],
  mount: ["mount", []],
  parted: ["parted", ["-l"]],
  ps: ["ps", ["au"]],
};

export interface CollectOptions {
  runner: Runner;
  log: Logger;
  /** The agent's own log lines. */
  agentLog: readonly string[];
  /** Devices whose udev properties to include (`/dev/sda`). */
  devices: readonly string[];
}

/** Returns the base64 of a gzip-compressed tar archive. */
export async function collectSystemLogs(options: CollectOptions): Promise<string> {
  const { runner, log } = options;
  const dir = await Deno.makeTempDir({ prefix: "agent-logs-" });
  try {
    await Deno.writeTextFile(`${dir}/agent.log`, options.agentLog.join("\n") + "\n");
    const outputs = Object.entries(COMMANDS).map(async ([member, [cmd, args]]) => {
      try {
        const result = await runner.run(cmd, args, { timeoutMs: 15_000, okCodes: [0, 1] });
        await Deno.writeTextFile(`${dir}/${member}`, result.stdout + result.stderr);
      } catch (err) {
        log.debug("system log member skipped", { member, error: err });
      }
    });
    await Promise.all(outputs);
    await collectMdadmDetails(runner, log, dir);
    if (options.devices.length > 0) {
      await Deno.mkdir(`${dir}/udev`);
      for (const device of options.devices) {
        try {
          const result = await runner.run("udevadm", ["info", "--query=property", device], {
            timeoutMs: 10_000,
          });
          const props = Object.fromEntries(
            result.stdout.split("\n").filter((l) => l.includes("=")).map((l) => {
              const i = l.indexOf("=");
              return [l.slice(0, i), l.slice(i + 1)];
            }),
          );
          await Deno.writeTextFile(
            `${dir}/udev/${device.replace(/^\/dev\//, "").replaceAll("/", "_")}`,
            JSON.stringify(props),
          );
        } catch (err) {
          log.debug("udev data skipped", { device, error: err });
        }
      }
    }
    // The runner decodes stdout as text; the archive is binary, so tar writes it to a file.
    const archive = `${dir}.tar.gz`;
    await runner.run("tar", ["-czf", archive, "-C", dir, "."], { timeoutMs: 30_000 });
    try {
      return encodeBase64(await Deno.readFile(archive));
    } finally {
      await Deno.remove(archive);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Beyond IPA (which has only /proc/mdstat): the full `mdadm --detail` of every md array, as
 * `mdadm-detail/md<N>`, so a RAID problem can be read from the archive (member states, UUIDs,
 * the volume name the skip list matches).
 */
async function collectMdadmDetails(runner: Runner, log: Logger, dir: string): Promise<void> {
  let arrays: string[];
  try {
    arrays = (await listDirectory(runner, "/sys/block")).filter((n) => /^md\d+$/.test(n));
  } catch (err) {
    log.debug("md arrays not listed for the log archive", { error: err });
    return;
  }
  if (arrays.length === 0) return;
  await Deno.mkdir(`${dir}/mdadm-detail`);
  for (const md of arrays) {
    try {
      // Exit 1: an inactive md node; its message is still worth keeping.
      const result = await runner.run("mdadm", ["--detail", `/dev/${md}`], {
        timeoutMs: 15_000,
        okCodes: [0, 1],
      });
      await Deno.writeTextFile(`${dir}/mdadm-detail/${md}`, result.stdout + result.stderr);
    } catch (err) {
      log.debug("mdadm --detail skipped", { md, error: err });
    }
  }
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}
