/**
 * The agent's peak RSS while `standby.prepare_image` writes a large image of each kind (raw,
 * qcow2, gzip, xz, zstd, and qcow2 with deflate- or zstd-compressed clusters) to a loop device,
 * and whether anything image-sized appeared in a tmpfs meanwhile. Part of `deno task bench`; also
 * runs alone, for the memory rows only:
 *
 *   BENCH_IMAGE_MIB=2048 deno run -A tests/bench/image_memory_bench.ts \
 *     [raw qcow2 gzip xz zstd qcow2-deflate qcow2-zstd]
 *
 * The image is built on disk by tools (never read into this process): 1 MiB of random bytes
 * every 4 MiB, zeros between, so the compressors expand it in bursts, the hardest case for the
 * stream queues. The compressed qcow2 kinds add 1 MiB of base64 text after each random MiB (the
 * random clusters stay uncompressed, the text ones are compressed), and a row comparing the
 * agent's write speed with `qemu-img convert` of the same file to the same device. The sampler
 * reads VmRSS every 50 ms and, every second, the used bytes of each tmpfs mount, reporting the
 * largest growth.
 */
import { createLoopDevice } from "../harness/loop.ts";
import { startImageServer } from "../harness/image_server.ts";
import { startStandaloneAgent } from "../harness/standalone_agent.ts";

export interface MemoryRow {
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
}

const TARGET_MIB = 150;
const KINDS = ["raw", "qcow2", "gzip", "xz", "zstd", "qcow2-deflate", "qcow2-zstd"] as const;
type Kind = typeof KINDS[number];

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("sh", {
    args: ["-c", script],
    stderr: "piped",
    stdout: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`${script} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

async function rssMiB(pid: number): Promise<number> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => "");
  return Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? "0") / 1024;
}

/** Used bytes per tmpfs mount point. */
async function tmpfsUsed(): Promise<Map<string, number>> {
  const out = await sh("df -B1 --output=target,used -t tmpfs 2>/dev/null | tail -n +2");
  const used = new Map<string, number>();
  for (const line of out.trim().split("\n")) {
    const [target, bytes] = line.trim().split(/\s+/);
    if (target && bytes) used.set(target, Number(bytes));
  }
  return used;
}

async function buildImages(dir: string, mib: number, kinds: readonly Kind[]) {
  const raw = `${dir}/disk.raw`;
  // 1 MiB random at the start of every 4 MiB block, sparse zeros elsewhere.
  await sh(`truncate -s ${mib}M ${raw}`);
  await sh(
    `for i in $(seq 0 4 ${mib - 1}); do echo $i; done | ` +
      `xargs -P 2 -I{} dd if=/dev/urandom of=${raw} bs=1M count=1 seek={} conv=notrunc ` +
      `status=none`,
  );
  // The agent checks the partition table after writing.
  await sh(`parted -s ${raw} mklabel msdos mkpart primary 1MiB 100%`);
  const files: Record<Kind, string> = {
    raw,
    qcow2: `${dir}/disk.qcow2`,
    gzip: `${dir}/disk.raw.gz`,
    xz: `${dir}/disk.raw.xz`,
    zstd: `${dir}/disk.raw.zst`,
    "qcow2-deflate": `${dir}/mixed-deflate.qcow2`,
    "qcow2-zstd": `${dir}/mixed-zstd.qcow2`,
  };
  // What each kind decodes to: the compressed qcow2 kinds carry text as well.
  const sources = Object.fromEntries(KINDS.map((k) => [k, raw])) as Record<Kind, string>;
  if (kinds.some((k) => k.startsWith("qcow2-"))) {
    const mixed = `${dir}/mixed.raw`;
    await sh(`cp --sparse=always ${raw} ${mixed}`);
    await sh(
      `for i in $(seq 1 4 ${mib - 1}); do echo $i; done | xargs -P 2 -I{} sh -c ` +
        `'head -c 786432 /dev/urandom | base64 -w0 | ` +
        `dd of=${mixed} bs=1M count=1 seek={} iflag=fullblock conv=notrunc status=none'`,
    );
    sources["qcow2-deflate"] = mixed;
    sources["qcow2-zstd"] = mixed;
    for (const [kind, type] of [["qcow2-deflate", "zlib"], ["qcow2-zstd", "zstd"]] as const) {
      if (!kinds.includes(kind)) continue;
      await sh(
        `qemu-img convert -c -f raw -O qcow2 -o compression_type=${type} ${mixed} ${files[kind]}`,
      );
    }
  }
  for (const kind of kinds) {
    if (kind === "qcow2") await sh(`qemu-img convert -f raw -O qcow2 ${raw} ${files.qcow2}`);
    if (kind === "gzip") await sh(`gzip -1 -c ${raw} > ${files.gzip}`);
    if (kind === "xz") await sh(`xz -0 -T2 -c ${raw} > ${files.xz}`);
    if (kind === "zstd") await sh(`zstd -q -1 ${raw} -o ${files.zstd}`);
  }
  return { files, sources };
}

/** Peak RSS and tmpfs growth while writing each kind of `mib` MiB. */
export async function benchImageMemory(
  mib: number,
  kinds: readonly Kind[] = KINDS,
): Promise<MemoryRow[]> {
  const rows: MemoryRow[] = [];
  const dir = await Deno.makeTempDir({ prefix: "bench-memory-" });
  try {
    const { files, sources } = await buildImages(dir, mib, kinds);
    await using disk = await createLoopDevice({ sizeMiB: Math.max(4608, mib + 64) });
    const served = Object.fromEntries(
      kinds.map((k) => [`/${k}`, { body: { path: files[k] } }]),
    );
    await using server = startImageServer(served);
    await using agent = await startStandaloneAgent({ onlyBlockDevices: [disk.path] });
    const idle = await rssMiB(agent.pid);
    for (const kind of kinds) {
      const digest = (await sh(`sha256sum ${files[kind]}`)).split(" ")[0];
      const before = await tmpfsUsed();
      let peak = 0;
      let tmpfsGrowth = 0;
      let writing = true;
      const sampler = (async () => {
        for (let tick = 0; writing; tick++) {
          peak = Math.max(peak, await rssMiB(agent.pid));
          if (tick % 20 === 0) {
            for (const [target, used] of await tmpfsUsed()) {
              tmpfsGrowth = Math.max(tmpfsGrowth, used - (before.get(target) ?? 0));
            }
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      const start = performance.now();
      const res = await agent.command("standby.prepare_image", {
        image_info: {
          id: `memory-${kind}`,
          urls: [server.url(`/${kind}`)],
          disk_format: kind.startsWith("qcow2") ? "qcow2" : "raw",
          os_hash_algo: "sha256",
          os_hash_value: digest,
        },
      });
      const seconds = (performance.now() - start) / 1000;
      writing = false;
      await sampler;
      if (res.body.command_status !== "SUCCEEDED") {
        throw new Error(`prepare_image ${kind} failed: ${JSON.stringify(res.body.command_error)}`);
      }
      const same = await new Deno.Command("cmp", {
        args: ["-n", String(mib * 1024 * 1024), sources[kind], disk.path],
      }).output();
      if (!same.success) throw new Error(`${kind}: the device differs from the image`);
      rows.push({
        metric: `peak RSS writing ${kind} ${mib} MiB (${(mib / seconds).toFixed(0)} MiB/s)`,
        value: `${peak.toFixed(1)} MiB`,
        baseline: `${TARGET_MIB} MiB (target; idle ${idle.toFixed(1)} MiB)`,
        ratio: (peak / TARGET_MIB).toFixed(2),
      });
      rows.push({
        metric: `largest tmpfs growth writing ${kind}`,
        value: `${(tmpfsGrowth / 1024 / 1024).toFixed(1)} MiB`,
        baseline: `${mib} MiB (image size)`,
        ratio: (tmpfsGrowth / (mib * 1024 * 1024)).toFixed(3),
      });
      if (kind.startsWith("qcow2-")) {
        const convert = performance.now();
        await sh(`qemu-img convert -t none -f qcow2 -O raw -n ${files[kind]} ${disk.path}`);
        const baseline = mib / ((performance.now() - convert) / 1000);
        rows.push({
          metric: `${kind} write ${mib} MiB virtual, sha256 (vs qemu-img convert from a file)`,
          value: `${(mib / seconds).toFixed(0)} MiB/s`,
          baseline: `${baseline.toFixed(0)} MiB/s`,
          ratio: (mib / seconds / baseline).toFixed(2),
        });
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return rows;
}

if (import.meta.main) {
  const mib = Number(Deno.env.get("BENCH_IMAGE_MIB") ?? "512");
  const kinds = Deno.args.length
    ? Deno.args.filter((a): a is Kind => KINDS.includes(a as Kind))
    : KINDS;
  const rows = await benchImageMemory(mib, kinds);
  const text = rows.map((r) => `| ${r.metric} | ${r.value} | ${r.baseline} | ${r.ratio} |`);
  Deno.stdout.writeSync(new TextEncoder().encode(text.join("\n") + "\n"));
}
