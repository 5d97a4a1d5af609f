/**
 * `deno task bench`: the agent's speed and memory, each figure next to a baseline measured in
 * the same run on the same machine. Prints one table; asserts nothing (timings vary by machine).
 *
 *   start-up        spawn → first 200 on /v1/status (median of 5)
 *   idle RSS        VmRSS of the agent process after start-up
 *   latency         p50/p99 of GET /v1/status and sync clean.get_clean_steps, 1 and 8 clients
 *   raw write       standby.prepare_image of a raw image onto a loop device with sha1 (the
 *                   cheapest checksum it accepts) and sha256, next to `curl | dd oflag=direct
 *                   conv=fsync` and `dd oflag=direct conv=fsync` of the same image, same device
 *   qcow2/zstd      the same content as qcow2 and zstd through prepare_image, next to
 *                   `qemu-img convert` and `curl | zstd -d | dd`; the agent's peak RSS meanwhile
 *   image memory    peak RSS and tmpfs growth writing raw/qcow2/gzip/xz/zstd (`image_memory_bench.ts`)
 *   erasure         metadata erase per device, overwrite vs `dd if=/dev/zero oflag=direct`, and
 *                   erase_devices on 4 devices at concurrency 4 vs 1 (`erase_bench.ts`)
 *   Ironic flows    per-phase times of clean → deploy → undeploy on each conductor, the real
 *                   agent vs a zero-work agent (`ironic_flow_bench.ts`)
 *   ramdisk VM      the built ramdisk in a VM under Ironic 21.4: start → first heartbeat and
 *                   deploy → active (`vm_bench.ts`; skipped when the ramdisk is not built)
 */
import { createLoopDevice } from "../harness/loop.ts";
import { buildTestImage, startImageServer } from "../harness/image_server.ts";
import { startStandaloneAgent } from "../harness/standalone_agent.ts";
import { createHash } from "node:crypto";
import { benchErasure } from "./erase_bench.ts";
import { benchImageMemory } from "./image_memory_bench.ts";
import { benchIronicFlows } from "./ironic_flow_bench.ts";
import { benchRamdiskVm } from "./vm_bench.ts";

const IMAGE_MIB = Number(Deno.env.get("BENCH_IMAGE_MIB") ?? "512");
const REQUESTS = Number(Deno.env.get("BENCH_REQUESTS") ?? "2000");

interface Row {
  metric: string;
  value: string;
  baseline: string;
  ratio: string;
}
const rows: Row[] = [];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function rssMiB(pid: number): Promise<number> {
  const out = await new Deno.Command("grep", { args: ["VmRSS", `/proc/${pid}/status`] }).output();
  const kb = Number(/(\d+)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? "0");
  return kb / 1024;
}

/** Runs `count` requests from `clients` concurrent loops; returns per-request milliseconds. */
async function measure(
  clients: number,
  count: number,
  request: () => Promise<Response>,
): Promise<number[]> {
  const times: number[] = [];
  let remaining = count;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (remaining-- > 0) {
      const start = performance.now();
      const res = await request();
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`benchmark request answered ${res.status}`);
      times.push(performance.now() - start);
    }
  }));
  return times;
}

async function run(cmd: string, args: string[], stdin?: "piped"): Promise<number> {
  const start = performance.now();
  const child = new Deno.Command(cmd, { args, stdin: stdin ?? "null", stderr: "piped" }).spawn();
  const out = await child.output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return (performance.now() - start) / 1000;
}

async function startupAndMemory() {
  const startups: number[] = [];
  for (let i = 0; i < 5; i++) {
    await using agent = await startStandaloneAgent();
    startups.push(agent.startupMs);
  }
  const baseline: number[] = [];
  for (let i = 0; i < 5; i++) {
    baseline.push(await run(Deno.execPath(), ["eval", "0"]) * 1000);
  }
  rows.push({
    metric: "start-up to first 200 on /v1/status",
    value: `${median(startups).toFixed(0)} ms`,
    baseline: `${median(baseline).toFixed(0)} ms (deno eval 0)`,
    ratio: (median(startups) / median(baseline)).toFixed(2),
  });
}

async function latencies() {
  await using agent = await startStandaloneAgent();
  await new Promise((r) => setTimeout(r, 1000));
  rows.push({
    metric: "idle RSS",
    value: `${(await rssMiB(agent.pid)).toFixed(1)} MiB`,
    baseline: "",
    ratio: "",
  });
  const steps = JSON.stringify({
    name: "clean.get_clean_steps",
    params: { node: { uuid: "bench" }, ports: [] },
  });
  const targets: [string, () => Promise<Response>, number][] = [
    ["GET /v1/status", () => fetch(`${agent.url}/v1/status`), REQUESTS],
    [
      "sync clean.get_clean_steps",
      () =>
        fetch(`${agent.url}/v1/commands/?wait=true&agent_token=${agent.token}`, {
          method: "POST",
          body: steps,
        }),
      Math.ceil(REQUESTS / 4),
    ],
  ];
  for (const [label, request, count] of targets) {
    for (const clients of [1, 8]) {
      const times = await measure(clients, count, request);
      rows.push({
        metric: `${label}, ${clients} client${clients > 1 ? "s" : ""} (${count} requests)`,
        value: `p50 ${percentile(times, 50).toFixed(2)} ms, p99 ${
          percentile(times, 99).toFixed(2)
        } ms`,
        baseline: "",
        ratio: "",
      });
    }
  }
}

/**
 * standby.prepare_image of a raw image, end to end (checksum, write, fix GPT, partition check,
 * disk identifier), next to `dd` from a local file and `curl | dd`, interleaved so that load
 * from elsewhere hits every variant alike; medians of `BENCH_RAW_ROUNDS` (default 5) rounds.
 * The agent always verifies a checksum (spec 08 §3 refuses an image_info without one), so the
 * "raw" row uses sha1, the cheapest one it accepts (node:crypto: sha1 ≈ sha256 with SHA-NI,
 * both ~3x md5 and sha512); the other row is the same with sha256.
 */
async function rawWrite() {
  const rounds = Number(Deno.env.get("BENCH_RAW_ROUNDS") ?? "5");
  await using disk = await createLoopDevice({ sizeMiB: Math.max(4608, IMAGE_MIB * 2) });
  await using image = await buildTestImage({ sizeBytes: IMAGE_MIB * 1024 * 1024, table: "msdos" });
  await using server = startImageServer({ "/disk.img": { body: { path: image.path } } });
  const url = server.url("/disk.img");
  await using agent = await startStandaloneAgent({ onlyBlockDevices: [disk.path] });
  const algorithms = ["sha1", "sha256"] as const;
  const digests = Object.fromEntries(
    algorithms.map((a) => [a, createHash(a).update(image.bytes).digest("hex")]),
  );

  // conv=fsync like the agent's dd: on a loop device O_DIRECT still lands in the backing file's
  // page cache, and flushing 512 MiB of it costs ~0.45 s here, which a baseline without fsync
  // skips (and leaves as writeback for whatever runs next).
  const dd = ["of=" + disk.path, "bs=1M", "oflag=direct", "conv=fsync", "status=none"];
  const times = {
    dd: [] as number[],
    curl: [] as number[],
    curlNoFsync: [] as number[],
    sha1: [] as number[],
    sha256: [] as number[],
  };
  const prepare = async (id: string, algorithm: typeof algorithms[number]) => {
    const start = performance.now();
    const res = await agent.command("standby.prepare_image", {
      image_info: {
        id,
        urls: [url],
        disk_format: "raw",
        stream_raw_images: true,
        os_hash_algo: algorithm,
        os_hash_value: digests[algorithm],
      },
    });
    if (res.body.command_status !== "SUCCEEDED") {
      throw new Error(`prepare_image failed: ${JSON.stringify(res.body.command_error)}`);
    }
    return (performance.now() - start) / 1000;
  };
  await prepare("bench-warm-up", "sha256");
  for (let i = 0; i < rounds; i++) {
    times.dd.push(await run("dd", ["if=" + image.path, ...dd]));
    times.curl.push(
      await run("sh", ["-c", `curl -sf ${url} | dd ${dd.join(" ")} iflag=fullblock`]),
    );
    const noFsync = dd.filter((arg) => arg !== "conv=fsync").join(" ");
    times.curlNoFsync.push(
      await run("sh", ["-c", `curl -sf ${url} | dd ${noFsync} iflag=fullblock`]),
    );
    await run("sync", []); // its writeback, untimed, so the next run does not pay for it
    for (const algorithm of algorithms) {
      times[algorithm].push(await prepare(`bench-${algorithm}-${i}`, algorithm));
    }
  }
  const mibps = (seconds: number[]) => IMAGE_MIB / median(seconds);
  const curlRate = mibps(times.curl);
  for (const algorithm of algorithms) {
    const rate = mibps(times[algorithm]);
    const label = algorithm === "sha1" ? "sha1, the cheapest accepted checksum" : "sha256";
    rows.push({
      metric: `raw write ${IMAGE_MIB} MiB, ${label} (vs curl piped to dd oflag=direct conv=fsync)`,
      value: `${rate.toFixed(0)} MiB/s`,
      baseline: `${curlRate.toFixed(0)} MiB/s`,
      ratio: (rate / curlRate).toFixed(2),
    });
  }
  const sha256Rate = mibps(times.sha256);
  rows.push({
    metric: `raw write ${IMAGE_MIB} MiB, sha256 (vs curl piped to dd oflag=direct, no fsync)`,
    value: `${sha256Rate.toFixed(0)} MiB/s`,
    baseline: `${mibps(times.curlNoFsync).toFixed(0)} MiB/s`,
    ratio: (sha256Rate / mibps(times.curlNoFsync)).toFixed(2),
  });
  rows.push({
    metric: `raw write ${IMAGE_MIB} MiB, sha256 (vs dd oflag=direct conv=fsync from a local file)`,
    value: `${sha256Rate.toFixed(0)} MiB/s`,
    baseline: `${mibps(times.dd).toFixed(0)} MiB/s`,
    ratio: (sha256Rate / mibps(times.dd)).toFixed(2),
  });
}

/**
 * qcow2 and zstd images of the same content through standby.prepare_image, next to the tools
 * doing the same work (`qemu-img convert` from a local file; `curl | zstd -d | dd`), with the
 * agent's peak VmRSS sampled every 50 ms while it writes.
 */
async function encodedWrite() {
  await using disk = await createLoopDevice({ sizeMiB: Math.max(4608, IMAGE_MIB * 2) });
  await using image = await buildTestImage({ sizeBytes: IMAGE_MIB * 1024 * 1024, table: "msdos" });
  const dir = await Deno.makeTempDir({ prefix: "bench-encoded-" });
  try {
    const qcow2 = `${dir}/disk.qcow2`;
    const zst = `${dir}/disk.raw.zst`;
    await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", image.path, qcow2]);
    await run("zstd", ["-q", "-1", image.path, "-o", zst]);
    await using server = startImageServer({
      "/disk.qcow2": { body: { path: qcow2 } },
      "/disk.raw.zst": { body: { path: zst } },
    });
    await using agent = await startStandaloneAgent({ onlyBlockDevices: [disk.path] });
    const dd = `dd of=${disk.path} bs=1M oflag=direct iflag=fullblock status=none`;
    const kinds = [
      ["qcow2", qcow2, "qcow2", ["qemu-img", [
        "convert",
        "-t",
        "none",
        "-f",
        "qcow2",
        "-O",
        "raw",
        "-n",
        qcow2,
        disk.path,
      ]], "qemu-img convert"],
      ["zstd", zst, "raw", ["sh", [
        "-c",
        `curl -sf ${server.url("/disk.raw.zst")} | zstd -dc | ${dd}`,
      ]], "curl piped to zstd -d piped to dd"],
    ] as const;
    for (const [kind, path, format, [cmd, args], label] of kinds) {
      const digest = createHash("sha256").update(await Deno.readFile(path)).digest("hex");
      const agentTimes: number[] = [];
      const baseTimes: number[] = [];
      let peak = 0;
      for (let i = 0; i < 3; i++) {
        baseTimes.push(await run(cmd, [...args]));
        let writing = true;
        const sampler = (async () => {
          while (writing) {
            peak = Math.max(peak, await rssMiB(agent.pid));
            await new Promise((r) => setTimeout(r, 50));
          }
        })();
        const start = performance.now();
        const res = await agent.command("standby.prepare_image", {
          image_info: {
            id: `bench-${kind}-${i}`,
            urls: [server.url(path.slice(dir.length))],
            disk_format: format,
            stream_raw_images: true,
            os_hash_algo: "sha256",
            os_hash_value: digest,
          },
        });
        agentTimes.push((performance.now() - start) / 1000);
        writing = false;
        await sampler;
        if (res.body.command_status !== "SUCCEEDED") {
          throw new Error(
            `prepare_image ${kind} failed: ${JSON.stringify(res.body.command_error)}`,
          );
        }
      }
      const rate = IMAGE_MIB / median(agentTimes);
      const base = IMAGE_MIB / median(baseTimes);
      rows.push({
        metric: `${kind} write ${IMAGE_MIB} MiB virtual, sha256 (vs ${label})`,
        value: `${rate.toFixed(0)} MiB/s`,
        baseline: `${base.toFixed(0)} MiB/s`,
        ratio: (rate / base).toFixed(2),
      });
      rows.push({
        metric: `peak RSS while writing ${kind} ${IMAGE_MIB} MiB`,
        value: `${peak.toFixed(1)} MiB`,
        baseline: "150 MiB (target)",
        ratio: (peak / 150).toFixed(2),
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** poll.get_hardware_info (median of 3) next to the main tools it runs, run directly. */
async function inventory() {
  await using agent = await startStandaloneAgent();
  const agentMs: number[] = [];
  const toolsMs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    const { body } = await agent.command("poll.get_hardware_info", {});
    if (body.command_status !== "SUCCEEDED") throw new Error("get_hardware_info failed");
    agentMs.push(performance.now() - start);
    let tools = 0;
    for (const line of ["lshw -quiet -json", "lscpu -J", "lsblk -bia --json", "ip -j addr"]) {
      const [cmd, ...args] = line.split(" ");
      const t0 = performance.now();
      await new Deno.Command(cmd!, { args, stdout: "null", stderr: "null" }).output();
      tools += performance.now() - t0;
    }
    toolsMs.push(tools);
  }
  rows.push({
    metric: "poll.get_hardware_info (full inventory)",
    value: `${median(agentMs).toFixed(0)} ms`,
    baseline: `${median(toolsMs).toFixed(0)} ms (lshw+lscpu+lsblk+ip)`,
    ratio: (median(agentMs) / median(toolsMs)).toFixed(2),
  });
}

/** Metadata erase, overwrite vs dd, and 4 devices at concurrency 4 vs 1 (`erase_bench.ts`). */
async function erasure() {
  rows.push(...await benchErasure());
}

function printTable() {
  const keys = ["metric", "value", "baseline", "ratio"] as const;
  const headers: Row = { metric: "metric", value: "agent", baseline: "baseline", ratio: "ratio" };
  const widths = keys.map((k) => Math.max(...[headers, ...rows].map((r) => r[k].length)));
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const out = [
    line(keys.map((k, i) => headers[k].padEnd(widths[i]!))),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.map((r) => line(keys.map((k, i) => r[k].padEnd(widths[i]!)))),
  ];
  Deno.stdout.writeSync(new TextEncoder().encode(out.join("\n") + "\n"));
}

/** `BENCH_ONLY=raw,encoded` runs just those parts (names below); unset runs everything. */
const ONLY = new Set((Deno.env.get("BENCH_ONLY") ?? "").split(",").filter((s) => s));
const parts: [string, () => Promise<void>][] = [
  ["startup", startupAndMemory],
  ["latency", latencies],
  ["inventory", inventory],
  ["raw", rawWrite],
  ["encoded", encodedWrite],
  ["memory", async () => void rows.push(...await benchImageMemory(IMAGE_MIB))],
  ["erase", erasure],
  ["ironic", async () => void rows.push(...await benchIronicFlows())],
  ["vm", async () => void rows.push(...await benchRamdiskVm())],
];
for (const name of ONLY) {
  if (!parts.some(([part]) => part === name)) throw new Error(`BENCH_ONLY: unknown part "${name}"`);
}
for (const [name, part] of parts) {
  if (ONLY.size === 0 || ONLY.has(name)) await part();
}
printTable();
