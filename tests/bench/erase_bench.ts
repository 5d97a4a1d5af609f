/**
 * Erasure rows of `deno task bench` (issue #6), each next to a baseline run in the same process
 * on the same kind of loop device:
 *
 *   metadata erase   erase_devices_metadata on one device (listing, guard, wipefs, dd, sgdisk,
 *                    fuser) vs the same wipefs + dd + sgdisk commands from one shell script
 *   overwrite        the overwrite path (shred, one zero pass) vs `dd if=/dev/zero oflag=direct`
 *                    over the same device
 *   4 devices        erase_devices wall time over 4 loops at concurrency 4 vs 1, each device
 *                    overwritten by shred (1 random + 1 zero pass)
 *
 * Discard is not disabled on the loops to force the overwrite path: a loop's sysfs
 * `discard_max_bytes` set to 0 survives detaching and cannot be raised again (kernel 6.18), so
 * the next test to get that loop number would find it without discard. shred is called
 * directly instead.
 */
import { eraseDevices } from "../../src/erase/devices.ts";
import { eraseDevicesMetadata } from "../../src/erase/metadata.ts";
import { shredDevice } from "../../src/erase/overwrite.ts";
import { Logger, setLevel } from "../../src/log.ts";
import { systemRunner } from "../../src/system/run.ts";
import { createLoopDevice, type LoopDevice } from "../harness/loop.ts";

const OVERWRITE_MIB = Number(Deno.env.get("BENCH_ERASE_MIB") ?? "256");
const log = new Logger({ bench: "erase" });

export interface EraseRow {
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function seconds(body: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await body();
  return (performance.now() - start) / 1000;
}

function sh(script: string): Promise<unknown> {
  return systemRunner.run("sh", ["-c", script], { timeoutMs: 600_000 });
}

async function loops(count: number, sizeMiB: number) {
  const list: LoopDevice[] = [];
  for (let i = 0; i < count; i++) list.push(await createLoopDevice({ sizeMiB }));
  return Object.assign(list, {
    async [Symbol.asyncDispose]() {
      for (const loop of list) await loop[Symbol.asyncDispose]();
    },
  });
}

export async function benchErasure(): Promise<EraseRow[]> {
  setLevel("warn"); // the per-device info lines would drown the table
  const rows: EraseRow[] = [];
  {
    await using disks = await loops(1, 1024);
    const disk = disks[0]!.path;
    const only = [disk];
    const agent: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < 5; i++) {
      agent.push(
        await seconds(() =>
          eraseDevicesMetadata({
            runner: systemRunner,
            log,
            node: { uuid: "bench" },
            onlyBlockDevices: only,
            guardSpecialFilesystems: true,
            fence: { protectHost: true, onlyBlockDevices: only },
          })
        ),
      );
      const sectors = 1024 * 2048;
      base.push(
        await seconds(() =>
          sh(
            `wipefs --force --all ${disk} >/dev/null && ` +
              `dd bs=512 if=/dev/zero of=${disk} count=33 oflag=direct 2>/dev/null && ` +
              `dd bs=512 if=/dev/zero of=${disk} count=33 oflag=direct seek=${sectors - 33} ` +
              `2>/dev/null && sgdisk -Z ${disk} >/dev/null`,
          )
        ),
      );
    }
    rows.push({
      metric: "metadata erase, 1 device (erase_devices_metadata vs wipefs+dd+sgdisk)",
      value: `${(median(agent) * 1000).toFixed(0)} ms`,
      baseline: `${(median(base) * 1000).toFixed(0)} ms`,
      ratio: (median(agent) / median(base)).toFixed(2),
    });
  }
  {
    await using disks = await loops(1, OVERWRITE_MIB);
    const disk = disks[0]!;
    const agent: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < 3; i++) {
      agent.push(
        await seconds(() =>
          shredDevice(systemRunner, disk.path, {
            log,
            iterations: 0,
            zeroize: true,
            sizeBytes: disk.sizeBytes,
          })
        ),
      );
      base.push(
        await seconds(() =>
          sh(
            `dd if=/dev/zero of=${disk.path} bs=1M count=${OVERWRITE_MIB} oflag=direct 2>/dev/null`,
          )
        ),
      );
    }
    const rate = (s: number) => OVERWRITE_MIB / s;
    rows.push({
      metric:
        `overwrite ${OVERWRITE_MIB} MiB, shred --zero 1 pass (vs dd if=/dev/zero oflag=direct)`,
      value: `${rate(median(agent)).toFixed(0)} MiB/s`,
      baseline: `${rate(median(base)).toFixed(0)} MiB/s`,
      ratio: (rate(median(agent)) / rate(median(base))).toFixed(2),
    });
  }
  {
    const size = Math.max(16, Math.floor(OVERWRITE_MIB / 4));
    await using disks = await loops(4, size);
    const only = disks.map((d) => d.path);
    const wall = async (concurrency: number) =>
      await seconds(() =>
        eraseDevices({
          runner: systemRunner,
          log,
          node: {
            uuid: "bench",
            driver_internal_info: {
              disk_erasure_concurrency: concurrency,
              agent_erase_devices_iterations: 1,
              agent_erase_devices_zeroize: true,
            },
          },
          onlyBlockDevices: only,
          guardSpecialFilesystems: true,
          fence: { protectHost: true, onlyBlockDevices: only },
          // The overwrite path itself: the real chain would discard these loops in no time.
          async eraseBlockDevice(_node, device, ctx) {
            const start = performance.now();
            await shredDevice(systemRunner, device.name, {
              log: ctx.log,
              iterations: 1,
              zeroize: true,
              sizeBytes: device.size,
            });
            return { method: "shred", seconds: (performance.now() - start) / 1000 };
          },
        })
      );
    const one: number[] = [];
    const four: number[] = [];
    for (let i = 0; i < 3; i++) {
      one.push(await wall(1));
      four.push(await wall(4));
    }
    rows.push({
      metric: `erase_devices, 4 x ${size} MiB, shred 1+zero each (concurrency 4 vs 1)`,
      value: `${median(four).toFixed(2)} s`,
      baseline: `${median(one).toFixed(2)} s`,
      ratio: (median(four) / median(one)).toFixed(2),
    });
  }
  setLevel("info");
  return rows;
}

if (import.meta.main) {
  for (const row of await benchErasure()) {
    Deno.stdout.writeSync(new TextEncoder().encode(`${JSON.stringify(row)}\n`));
  }
}
