/**
 * What the end-to-end flows share: the conductors to run against, a raw whole-disk test image
 * served over HTTP, a loop device, a node enrolled with the image in its POST (Ironic 29 breaks a
 * node on any PATCH, see the recipe), the emulated machine, and diagnostics on failure.
 *
 *   for (const release of e2eReleases()) {
 *     Deno.test({ name: `${conductorLabel(release)} ...`, ignore: cannotRunE2e(), async fn() {
 *       await withFlow(release, {}, async (flow) => {
 *         const node = await enrollNode(flow);
 *         await using watching = watchNode(flow, node, { maxBoots: 2 });
 *         ...
 *       });
 *     }});
 *   }
 */

import { createLoopDevice, type LoopDevice, readBacking } from "./loop.ts";
import { type ImageServer, startImageServer } from "./image_server.ts";
import {
  IRONIC_RELEASES,
  type IronicClient,
  type IronicInstance,
  type IronicNode,
  type IronicOptions,
  type IronicRelease,
  startIronic,
} from "./ironic.ts";
import { type PowerWatcher, watchPower } from "./power_watcher.ts";
import { printDiagnostics, printTails, tool } from "./process_util.ts";

export const MiB = 1024 * 1024;
const SECTOR = 512;
export const IMAGE_SIZE = 4 * MiB;

/**
 * The conductors the suite runs against: both by default; `IRONIC_E2E_RELEASES=21.4` (or `29`)
 * narrows a local run.
 */
export function e2eReleases(): IronicRelease[] {
  const wanted = Deno.env.get("IRONIC_E2E_RELEASES");
  if (!wanted) return [...IRONIC_RELEASES];
  const list = wanted.split(",").map((r) => r.trim()).filter(Boolean);
  for (const r of list) {
    if (!IRONIC_RELEASES.includes(r as IronicRelease)) {
      throw new RangeError(
        `Invalid IRONIC_E2E_RELEASES item "${r}": expected one of ${IRONIC_RELEASES.join(", ")}`,
      );
    }
  }
  return list as IronicRelease[];
}

/** The prefix naming the conductor in each test's name (and so in the suite's summary). */
export function conductorLabel(release: IronicRelease): string {
  return `[Ironic ${release}]`;
}

/** End-to-end flows need Linux and root (loop devices, chroot, apt). */
export function cannotRunE2e(): boolean {
  return Deno.build.os !== "linux" || Deno.uid() !== 0;
}

/**
 * A raw whole-disk image: an MBR with disk identifier 0 (so `install_bootloader` has nothing to
 * do) and one Linux partition from 1 MiB to the end, filled with random bytes.
 */
export function buildWholeDiskImage(sizeBytes: number): Uint8Array<ArrayBuffer> {
  const image = new Uint8Array(sizeBytes);
  const view = new DataView(image.buffer);
  const entry = 446;
  image.set([0x00, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff], entry); // status, CHS, type, CHS
  const first = MiB / SECTOR;
  view.setUint32(entry + 8, first, true);
  view.setUint32(entry + 12, sizeBytes / SECTOR - first, true);
  image[510] = 0x55;
  image[511] = 0xaa;
  for (let offset = MiB; offset < sizeBytes; offset += 65536) {
    crypto.getRandomValues(image.subarray(offset, Math.min(offset + 65536, sizeBytes)));
  }
  return image;
}

/** Which partition table the first sectors hold: "gpt", "mbr" or null. */
export function partitionTable(head: Uint8Array): "gpt" | "mbr" | null {
  const gptSignature = new TextDecoder().decode(head.subarray(SECTOR, SECTOR + 8));
  if (gptSignature === "EFI PART") return "gpt";
  if (head[510] === 0x55 && head[511] === 0xaa) return "mbr";
  return null;
}

export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** MAC of the first physical network interface (one with a `device` link), as the agent sees it. */
export async function physicalMac(): Promise<string> {
  const names = [];
  for await (const entry of Deno.readDir("/sys/class/net")) names.push(entry.name);
  for (const name of names.sort()) {
    try {
      await Deno.stat(`/sys/class/net/${name}/device`);
    } catch {
      continue;
    }
    const mac = (await Deno.readTextFile(`/sys/class/net/${name}/address`)).trim();
    if (mac && mac !== "00:00:00:00:00:00") return mac;
  }
  throw new Error("Cannot find a physical network interface in /sys/class/net");
}

/** What the test reads through the backing file, after the loop device's buffers are flushed. */
export async function readDisk(
  disk: LoopDevice,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  await tool("sync", []);
  await tool("blockdev", ["--flushbufs", disk.path]);
  return await readBacking(disk, 0, length);
}

/** Writes bytes at the start of the loop device's backing file (never the block device). */
export async function seedBackingFile(disk: LoopDevice, bytes: Uint8Array): Promise<void> {
  using file = await Deno.open(disk.file, { write: true });
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
  await file.sync();
  await tool("blockdev", ["--flushbufs", disk.path]);
}

/** Ramdisk log tarballs Ironic stored, by kind (`<node>_<name>[_cleaning]_<time>.tar.gz`). */
export async function storedRamdiskLogs(ironic: IronicInstance) {
  const logs = { cleaning: 0, deploy: 0 };
  for await (const entry of Deno.readDir(ironic.deployLogsDir)) {
    if (entry.name.includes("_cleaning_")) logs.cleaning++;
    else logs.deploy++;
  }
  return logs;
}

/** Offset of the first byte where `actual` differs from `expected`, or -1. */
export function firstDifference(actual: Uint8Array, expected: Uint8Array): number {
  const length = Math.min(actual.length, expected.length);
  for (let i = 0; i < length; i++) if (actual[i] !== expected[i]) return i;
  return actual.length === expected.length ? -1 : length;
}

export async function printFailureDiagnostics(
  ironic: IronicInstance,
  watcher: PowerWatcher | null,
) {
  if (watcher) {
    printDiagnostics(`\n===== power watcher events =====\n${watcher.events.join("\n")}`);
    printDiagnostics(`===== power watcher problems =====\n${watcher.problems.join("\n")}`);
  }
  await printTails([
    { label: `ironic ${ironic.release} console`, path: ironic.consoleFile },
    { label: `ironic ${ironic.release}`, path: ironic.logFile },
  ], 200);
  // The last few boots tell the story; a crash loop repeats itself.
  const agents = watcher?.agents ?? [];
  for (const [i, agent] of agents.entries()) {
    if (i < agents.length - 3) continue;
    await printTails([{ label: `agent #${i + 1} of ${agents.length}`, path: agent.logFile }], 150);
  }
}

/** Per-phase wall-clock times of one flow, printed at the end and read by the benchmark. */
export class PhaseTimer {
  readonly timings: Record<string, number> = {};
  async phase<T>(name: string, body: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await body();
    this.timings[name] = Math.round(performance.now() - started);
    return result;
  }
}

export interface FlowOptions {
  /** Keys merged over ironic.conf. */
  extraConfig?: IronicOptions["extraConfig"];
  /** Size of the loop device; 64 MiB. */
  diskMiB?: number;
}

/** One flow's resources; disposing stops and removes them in reverse order. */
export interface Flow extends AsyncDisposable {
  readonly release: IronicRelease;
  readonly dir: string;
  readonly image: Uint8Array<ArrayBuffer>;
  readonly digest: string;
  readonly images: ImageServer;
  readonly ironic: IronicInstance;
  readonly client: IronicClient;
  readonly disk: LoopDevice;
  readonly timer: PhaseTimer;
  /** Every watcher `watchNode` started for this flow, in order. */
  readonly watchers: PowerWatcher[];
}

/** Starts the image server, Ironic `release` and a loop device (64 MiB unless `diskMiB`). */
export async function setUpFlow(release: IronicRelease, options: FlowOptions = {}): Promise<Flow> {
  const stack = new AsyncDisposableStack();
  try {
    const dir = await Deno.makeTempDir({ prefix: "ironic-flow-" });
    stack.defer(async () => {
      if (Deno.env.get("IRONIC_E2E_KEEP") !== "1") await Deno.remove(dir, { recursive: true });
    });
    const image = buildWholeDiskImage(IMAGE_SIZE);
    await Deno.writeFile(`${dir}/disk.img`, image);
    const digest = await sha256Hex(image);
    const images = stack.use(
      startImageServer({ "/disk.img": { body: { path: `${dir}/disk.img` } } }),
    );
    const timer = new PhaseTimer();
    const ironic = stack.use(
      await timer.phase(
        "start ironic",
        () => startIronic({ release, httpUrl: images.origin, extraConfig: options.extraConfig }),
      ),
    );
    const disk = stack.use(await createLoopDevice({ sizeMiB: options.diskMiB ?? 64 }));
    const moved = stack.move();
    return {
      release,
      dir,
      image,
      digest,
      images,
      ironic,
      client: ironic.client,
      disk,
      timer,
      watchers: [],
      [Symbol.asyncDispose]: () => moved.disposeAsync(),
    };
  } catch (err) {
    await stack.disposeAsync();
    throw err;
  }
}

/**
 * Sets up a flow (`setUpFlow`), runs `body` on it and tears it down. When `body` throws, prints
 * Ironic's logs and the last `watchNode` watcher's events and agent logs
 * (`printFailureDiagnostics`) before the error goes on.
 */
export async function withFlow(
  release: IronicRelease,
  options: FlowOptions,
  body: (flow: Flow) => Promise<void>,
): Promise<void> {
  await using flow = await setUpFlow(release, options);
  try {
    await body(flow);
  } catch (err) {
    await printFailureDiagnostics(flow.ironic, flow.watchers.at(-1) ?? null);
    throw err;
  }
}

/**
 * Enrolls a node for `flow` with every field in the POST: the loop device as root device hint,
 * `instance_info` for the test image (whole-disk raw, no `image_disk_format`: Ironic 29 then sends
 * `disk_format: null`), and a port with the agent's MAC. `fields.properties` and
 * `fields.instance_info` are merged over those defaults; other fields are added as they are.
 */
export async function enrollNode(
  flow: Flow,
  fields: Record<string, unknown> & {
    properties?: Record<string, unknown>;
    instance_info?: Record<string, unknown>;
  } = {},
): Promise<IronicNode> {
  const { properties, instance_info, ...rest } = fields;
  const node = await flow.client.createNode({
    name: `e2e-${crypto.randomUUID().slice(0, 8)}`,
    driver: "fake-hardware",
    deploy_interface: "direct",
    properties: {
      cpus: 1,
      memory_mb: 2048,
      local_gb: 1,
      cpu_arch: "x86_64",
      // Without a hint the agent (like IPA) only picks disks of at least 4 GiB.
      root_device: { name: flow.disk.path },
      ...properties,
    },
    instance_info: {
      image_source: flow.images.url("/disk.img"),
      image_os_hash_algo: "sha256",
      image_os_hash_value: flow.digest,
      root_gb: 1,
      ...instance_info,
    },
    ...rest,
  });
  await flow.client.createPort(node.uuid, await physicalMac());
  return node;
}

/**
 * Emulates the node's machine with agents that see only the flow's loop device (or
 * `blockDevices`), over plain HTTP unless `autoTls`. The watcher is also added to
 * `flow.watchers`, for `withFlow`'s diagnostics.
 */
export function watchNode(
  flow: Flow,
  node: IronicNode,
  options: {
    maxBoots: number;
    agentExtraArgs?: string[];
    keepStateDir?: boolean;
    blockDevices?: readonly string[];
    autoTls?: boolean;
  },
): PowerWatcher {
  const watcher = watchPower(flow.client, node.uuid, {
    agent: {
      apiUrl: flow.ironic.url,
      blockDevices: options.blockDevices ?? [flow.disk.path],
      extraArgs: options.agentExtraArgs,
      keepStateDir: options.keepStateDir,
      autoTls: options.autoTls,
    },
    logDir: flow.dir,
    maxBoots: options.maxBoots,
  });
  flow.watchers.push(watcher);
  return watcher;
}

const LONG_WAIT_MS = 180_000;

/** `target` then wait for `state`, timed as `phase`, failing fast when the machine cannot go on. */
export function transition(
  flow: Flow,
  watcher: PowerWatcher,
  node: IronicNode,
  phase: string,
  target: Parameters<IronicClient["setProvisionState"]>[1],
  state: string,
  options: Parameters<IronicClient["setProvisionState"]>[2] & { failOn?: string[] } = {},
): Promise<IronicNode> {
  return flow.timer.phase(phase, async () => {
    await flow.client.setProvisionState(node.uuid, target, options);
    return await flow.client.waitForProvisionState(node.uuid, state, {
      timeoutMs: LONG_WAIT_MS,
      signal: watcher.signal,
      failOn: options.failOn,
    });
  });
}

/** Prints the flow's timings on success (one JSON line per flow, for the benchmark). */
export function printTimings(flow: Flow, name: string, watcher: PowerWatcher): void {
  printDiagnostics(
    `\n===== e2e timings ${JSON.stringify({ conductor: flow.release, flow: name })} (ms) =====\n` +
      `${JSON.stringify(flow.timer.timings)}\n` +
      `===== power watcher events =====\n${watcher.events.join("\n")}`,
  );
}
