/**
 * The ramdisk in a VM under a real Ironic 21.4: automated cleaning, then a `direct` whole-disk
 * deployment to the VM's first disk, up to `active`. Shared by the VM test (which asserts on
 * the result) and the bench (which reports its timings).
 *
 * How the pieces reach each other (all servers on the host bind 127.0.0.1):
 * - guest → Ironic: `ipa-api-url=http://10.0.2.2:<ironic port>` (slirp maps 10.0.2.2 to the
 *   host's loopback);
 * - Ironic → agent: the agent advertises `127.0.0.1:<hostfwd port>`
 *   (`ipa-advertise-host`/`ipa-advertise-port`); qemu forwards it to the guest's port 9999;
 * - image: the conductor validates `image_source` (`http://127.0.0.1:<port>/disk.img`) from the
 *   host, so the URL must be the host's; the agent fetches the same URL through the node's
 *   `image_http_proxy`, `http://10.0.2.2:<port>`: the image server itself answers the proxied
 *   (absolute-form) request, as it serves by path.
 *
 * The machine: the power watcher boots the VM when the conductor expects a ramdisk and stops it
 * on power actions. Fake power cannot observe the guest powering itself off, so Ironic is told
 * to poll the power state 5 × 2 s after `standby.power_off` (its default is 6 × 5 s) before
 * forcing it off: time for the guest's real power-off to be seen as the machine's.
 *
 *   await using flow = await runVmDeployFlow({ ramdisk, logDir });
 */

import { buildWholeDiskImage, MiB, partitionTable, sha256Hex } from "./flow_fixtures.ts";
import { type ImageServer, startImageServer } from "./image_server.ts";
import { type IronicInstance, type IronicNode, type IronicOptions, startIronic } from "./ironic.ts";
import { type PowerWatcher, watchPower } from "./power_watcher.ts";
import { printDiagnostics, printTails, sleep } from "./process_util.ts";
import {
  createDiskFiles,
  HOST_FROM_GUEST,
  type Ramdisk,
  VM_MAC,
  type VmProcess,
  vmStarter,
} from "./vm.ts";

/** The deployed image: an MBR with disk id 0 and one random-filled Linux partition. */
const IMAGE_BYTES = 4 * MiB;
/** Bound on each provision-state transition; TCG boots take ~20 s, steps run emulated. */
const TRANSITION_BOUND_MS = 360_000;

export interface VmFlowOptions {
  ramdisk: Ramdisk;
  /** Where each boot's serial log (`agent-<boot>.log`) goes; the caller owns the directory. */
  logDir: string;
  /** Extra kernel parameters for every boot. */
  params?: Readonly<Record<string, string | null>>;
}

export interface VmBoot {
  vm: VmProcess;
  /** ms from spawning qemu to the conductor recording the agent's first heartbeat, or null. */
  firstHeartbeatMs: number | null;
}

export interface VmFlowResult extends AsyncDisposable {
  readonly image: Uint8Array;
  /** The VM's first disk (/dev/vda) and second disk. */
  readonly disks: readonly string[];
  /** Partition table on /dev/vda: seeded before cleaning, and after cleaning. */
  readonly tableBeforeCleaning: "gpt" | "mbr" | null;
  readonly tableAfterCleaning: "gpt" | "mbr" | null;
  /** The node once `active`. */
  readonly node: IronicNode;
  readonly watcher: PowerWatcher;
  readonly boots: readonly VmBoot[];
  /** ms: `provide` → available, `deploy` → active, deploy-boot VM start → active. */
  readonly timings: { cleanMs: number; deployMs: number; vmStartToActiveMs: number };
  /** Requests the image server answered for /disk.img (the conductor's HEAD, the agent's GET). */
  readonly imageRequests: readonly { method: string; host: string | null }[];
}

/** `agent_last_heartbeat` (the conductor's UTC ISO time without zone) as epoch ms. */
export function heartbeatEpochMs(value: unknown): number | null {
  if (typeof value !== "string" || value === "") return null;
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** The served test image and an Ironic for a VM machine, from `startVmIronic`. */
export interface VmIronic {
  /** Served as `/disk.img`. */
  readonly image: Uint8Array<ArrayBuffer>;
  /** SHA-256 of `image`, hex. */
  readonly digest: string;
  readonly images: ImageServer;
  readonly ironic: IronicInstance;
}

/**
 * Writes the test image (an MBR with disk id 0 and one random-filled Linux partition) to
 * `${dir}/disk.img`, serves it and starts Ironic 21.4 with `extraConfig` and what a VM machine
 * needs (the power-state polling after `standby.power_off`, see above). Both stop with `stack`.
 */
export async function startVmIronic(
  stack: AsyncDisposableStack,
  dir: string,
  extraConfig: IronicOptions["extraConfig"] = {},
): Promise<VmIronic> {
  const image = buildWholeDiskImage(IMAGE_BYTES);
  await Deno.writeFile(`${dir}/disk.img`, image);
  const images = stack.use(
    startImageServer({ "/disk.img": { body: { path: `${dir}/disk.img` } } }),
  );
  const ironic = stack.use(
    await startIronic({
      httpUrl: images.origin,
      extraConfig: {
        ...extraConfig,
        agent: {
          post_deploy_get_power_state_retries: 5,
          post_deploy_get_power_state_retry_interval: 2,
          ...extraConfig.agent,
        },
      },
    }),
  );
  return { image, digest: await sha256Hex(image), images, ironic };
}

/** Runs the flow to `active`; the result holds the VM disks until disposed. */
export async function runVmDeployFlow(options: VmFlowOptions): Promise<VmFlowResult> {
  const stack = new AsyncDisposableStack();
  let watcher: PowerWatcher | null = null;
  let ironicForDiagnostics: { logFile: string; consoleFile: string } | null = null;
  try {
    const dir = await Deno.makeTempDir({ prefix: "ipa-vm-flow-" });
    stack.defer(() => Deno.remove(dir, { recursive: true }));
    const { image, digest, images, ironic } = await startVmIronic(stack, dir);
    ironicForDiagnostics = ironic;
    const disks = await createDiskFiles(dir, 2);
    // A partition table on /dev/vda for cleaning (erase_devices_metadata) to remove.
    {
      using file = await Deno.open(disks[0]!, { write: true });
      await file.write(image.subarray(0, 4096));
    }
    const tableBeforeCleaning = partitionTable(await readHead(disks[0]!, 4096));

    const client = ironic.client;
    const imagePort = new URL(images.origin).port;
    const node = await client.createNode({
      name: `vm-${crypto.randomUUID().slice(0, 8)}`,
      driver: "fake-hardware",
      deploy_interface: "direct",
      properties: {
        cpus: 2,
        memory_mb: 1536,
        local_gb: 8,
        cpu_arch: "x86_64",
        root_device: { name: "/dev/vda" },
      },
      driver_info: { image_http_proxy: `http://${HOST_FROM_GUEST}:${imagePort}` },
      instance_info: {
        image_source: images.url("/disk.img"),
        image_os_hash_algo: "sha256",
        image_os_hash_value: digest,
        root_gb: 1,
      },
    });
    await client.createPort(node.uuid, VM_MAC);

    const vms: VmProcess[] = [];
    watcher = watchPower(client, node.uuid, {
      agent: {
        apiUrl: `http://${HOST_FROM_GUEST}:${ironic.port}`,
        // Not loop devices here: the VM's own disks, which the starter attaches.
        blockDevices: disks,
      },
      logDir: options.logDir,
      maxBoots: 4,
      maxDurationMs: 30 * 60_000,
      // A VM takes seconds to boot and stop: polling Ironic less often leaves the two CPUs
      // of these machines to the emulated guest.
      intervalMs: 500,
      start: vmStarter({
        ...options.ramdisk,
        disks,
        params: { "ipa-advertise-host": "127.0.0.1", "ipa-debug": "1", ...options.params },
      }, vms),
    });
    stack.use(watcher);

    // The conductor's time of each heartbeat, polled often enough to see every one.
    const heartbeats: number[] = [];
    const polling = new AbortController();
    const poller = (async () => {
      let last: unknown = undefined;
      while (!polling.signal.aborted) {
        try {
          const value = (await client.getNode(node.uuid)).driver_internal_info
            ?.agent_last_heartbeat;
          const at = heartbeatEpochMs(value);
          if (value !== last && at !== null) heartbeats.push(at);
          last = value;
        } catch {
          // The watcher reports API trouble; a missed poll only delays a timestamp.
        }
        await sleep(250);
      }
    })();
    stack.defer(async () => {
      polling.abort();
      await poller;
    });

    const wait = (target: string) =>
      client.waitForProvisionState(node.uuid, target, {
        timeoutMs: TRANSITION_BOUND_MS,
        signal: watcher!.signal,
      });
    await client.setProvisionState(node.uuid, "manage");
    await wait("manageable");
    const cleanStart = Date.now();
    await client.setProvisionState(node.uuid, "provide");
    await wait("available");
    const cleanMs = Date.now() - cleanStart;
    await watcher.settled();
    const tableAfterCleaning = partitionTable(await readHead(disks[0]!, 4096));
    const deployStart = Date.now();
    await client.setProvisionState(node.uuid, "active");
    const active = await wait("active");
    const activeAt = Date.now();
    await watcher.settled();
    polling.abort();
    await poller;

    const boots = vms.map((vm, i) => {
      const next = vms[i + 1]?.startedAt ?? Infinity;
      const first = heartbeats.find((t) => t >= vm.startedAt && t < next);
      return { vm, firstHeartbeatMs: first === undefined ? null : first - vm.startedAt };
    });
    const lastVm = vms.at(-1);
    const moved = stack.move();
    return {
      image,
      disks,
      tableBeforeCleaning,
      tableAfterCleaning,
      node: active,
      watcher,
      boots,
      timings: {
        cleanMs,
        deployMs: activeAt - deployStart,
        vmStartToActiveMs: lastVm ? activeAt - lastVm.startedAt : NaN,
      },
      imageRequests: images.received.filter((r) => r.path === "/disk.img").map((r) => ({
        method: r.method,
        host: r.headers.get("host"),
      })),
      [Symbol.asyncDispose]: () => moved.disposeAsync(),
    };
  } catch (err) {
    if (watcher) {
      printDiagnostics(`\n===== power watcher events =====\n${watcher.events.join("\n")}`);
      printDiagnostics(`===== power watcher problems =====\n${watcher.problems.join("\n")}`);
      const last = watcher.agents.at(-1);
      if (last) await printTails([{ label: "VM serial (last boot)", path: last.logFile }], 80);
    }
    if (ironicForDiagnostics) {
      await printTails([
        { label: "ironic console", path: ironicForDiagnostics.consoleFile },
        { label: "ironic", path: ironicForDiagnostics.logFile },
      ], 80);
    }
    await stack.disposeAsync();
    throw err;
  }
}

/** The first `length` bytes of a disk file (qemu has flushed it: the VM is stopped). */
export async function readHead(path: string, length: number): Promise<Uint8Array> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(length);
  let read = 0;
  while (read < length) {
    const n = await file.read(buffer.subarray(read));
    if (n === null) break;
    read += n;
  }
  return buffer.subarray(0, read);
}
