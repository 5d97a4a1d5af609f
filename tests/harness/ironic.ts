/**
 * A real Ironic (API + conductor in one `ironic` process) for end-to-end tests, configured as
 * /work/shared/ironic-test-recipe.md describes: no keystone, no RPC, sqlite, `fake-hardware`
 * with the `direct` deploy interface, everything inside one temporary state dir, loopback only.
 *
 *   await using ironic = await startIronic({ httpUrl: images.url });
 *   const node = await ironic.client.createNode({ name: "n1", properties: {...} });
 *
 * Disposing stops the whole process group by PID and removes the state dir.
 */

import { freePort, readTail, sleep, spawnGroup, stopGroup } from "./process_util.ts";

export { IronicApiError, IronicClient, ProvisionStateError } from "./ironic_client.ts";
export type {
  IronicNode,
  IronicPort,
  NodeFields,
  ProvisionTarget,
  WaitOptions,
} from "./ironic_client.ts";
import { IronicClient } from "./ironic_client.ts";
import {
  chrootArgv,
  ensureIronicChroot,
  prepareMountPoint,
  removeMountPoint,
} from "./ironic_chroot.ts";

/**
 * Which conductor: "21.4" is Debian bookworm's on the host (the default); "29" is Debian
 * trixie's in a chroot (`ironic_chroot.ts`), started and stopped the same way.
 */
export type IronicRelease = "21.4" | "29";
export const IRONIC_RELEASES: readonly IronicRelease[] = ["21.4", "29"];

export interface IronicOptions {
  /** The conductor to run; "21.4" by default. */
  release?: IronicRelease;
  /** `[deploy]http_url`: base URL of the image server (also where Ironic would host images). */
  httpUrl?: string;
  /** `[api]ramdisk_heartbeat_timeout` in seconds; 3 by default (the recipe's 3–10 s). */
  heartbeatTimeout?: number;
  /** Bound on creating the schema and waiting for the API (after any package install); 60 s. */
  startTimeoutMs?: number;
  /** Keys merged over the generated ironic.conf, by section. */
  extraConfig?: Record<string, Record<string, string | number | boolean>>;
  /** Keep the state dir (logs, database) after dispose; also set by `IRONIC_E2E_KEEP=1`. */
  keepStateDir?: boolean;
}

export interface IronicInstance extends AsyncDisposable {
  readonly release: IronicRelease;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly stateDir: string;
  readonly configFile: string;
  /** Ironic's own log (oslo.log `log_file`). */
  readonly logFile: string;
  /** stdout/stderr of the `ironic` process (start-up tracebacks land here). */
  readonly consoleFile: string;
  /** Where `[agent]deploy_logs_collect` stores ramdisk log tarballs. */
  readonly deployLogsDir: string;
  readonly client: IronicClient;
  /** The last `lines` lines of the log file. */
  logTail(lines?: number): Promise<string>;
}

const PACKAGES = ["ironic-common", "python3-ironicclient"];
const BINARIES = ["/usr/bin/ironic", "/usr/bin/ironic-dbsync"];

type ConfValue = string | number | boolean;
type Conf = Record<string, Record<string, ConfValue>>;

/** The ironic.conf the recipe prescribes, every path inside `stateDir`. */
export function ironicConfig(
  stateDir: string,
  options: { port: number; httpUrl: string; heartbeatTimeout: number },
): Conf {
  const url = `http://127.0.0.1:${options.port}`;
  return {
    DEFAULT: {
      auth_strategy: "noauth",
      rpc_transport: "none",
      host: "test-conductor",
      my_ip: "127.0.0.1",
      debug: true,
      use_stderr: false,
      state_path: stateDir,
      tempdir: `${stateDir}/tmp`,
      log_dir: `${stateDir}/log`,
      log_file: "ironic.log",
      enabled_hardware_types: "fake-hardware",
      enabled_deploy_interfaces: "direct,fake",
      default_deploy_interface: "direct",
      enabled_management_interfaces: "noop,fake",
      default_management_interface: "noop",
      enabled_boot_interfaces: "fake",
      enabled_power_interfaces: "fake",
      enabled_network_interfaces: "noop",
      enabled_storage_interfaces: "noop",
      enabled_inspect_interfaces: "no-inspect",
      enabled_raid_interfaces: "no-raid",
      enabled_rescue_interfaces: "no-rescue",
      enabled_vendor_interfaces: "no-vendor",
      enabled_bios_interfaces: "no-bios",
      enabled_console_interfaces: "no-console",
    },
    api: {
      host_ip: "127.0.0.1",
      port: options.port,
      api_workers: 1,
      ramdisk_heartbeat_timeout: options.heartbeatTimeout,
    },
    conductor: {
      automated_clean: true,
      check_provision_state_interval: 5,
      clean_callback_timeout: 300,
      deploy_callback_timeout: 300,
    },
    agent: {
      require_tls: false,
      command_wait_interval: 1,
      post_deploy_get_power_state_retries: 0,
      deploy_logs_collect: "always",
      deploy_logs_storage_backend: "local",
      deploy_logs_local_path: `${stateDir}/deploy-logs`,
      certificates_path: `${stateDir}/certificates`,
    },
    deploy: {
      http_root: `${stateDir}/httpboot`,
      http_url: options.httpUrl,
      erase_devices_priority: 0,
    },
    pxe: {
      images_path: `${stateDir}/pxe-images`,
      instance_master_path: `${stateDir}/pxe-master`,
      tftp_root: `${stateDir}/tftpboot`,
      tftp_master_path: `${stateDir}/tftp-master`,
    },
    dhcp: { dhcp_provider: "none" },
    nova: { send_power_notifications: false },
    service_catalog: { endpoint_override: url },
    database: { connection: `sqlite:///${stateDir}/ironic.sqlite` },
    oslo_concurrency: { lock_path: `${stateDir}/locks` },
  };
}

function renderIni(conf: Conf): string {
  const out: string[] = [];
  for (const [section, keys] of Object.entries(conf)) {
    out.push(`[${section}]`);
    for (const [key, value] of Object.entries(keys)) out.push(`${key} = ${value}`);
    out.push("");
  }
  return out.join("\n");
}

function mergeConf(base: Conf, extra: Conf | undefined): Conf {
  const merged: Conf = {};
  for (const [section, keys] of Object.entries(base)) merged[section] = { ...keys };
  for (const [section, keys] of Object.entries(extra ?? {})) {
    merged[section] = { ...merged[section], ...keys };
  }
  return merged;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; timeoutMs: number; env?: Record<string, string> },
): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs),
  }).output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `Cannot run "${cmd} ${args.join(" ")}": exit ${out.code}${
        out.signal ? ` (${out.signal})` : ""
      }: ${text.decode(out.stderr).slice(-2000)}`,
    );
  }
  return text.decode(out.stdout);
}

/**
 * PIDs of running Ironic service daemons (`ironic-api`, `ironic-conductor`, ...), as a package
 * install might start them. The all-in-one `ironic` of other tests is not matched.
 */
async function ironicDaemonPids(): Promise<Set<number>> {
  const pids = new Set<number>();
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const argv = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0");
      if (argv.slice(0, 2).some((a) => /^\/usr\/bin\/ironic-(api|conductor|inspector)$/.test(a))) {
        pids.add(Number(entry.name));
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/**
 * Installs `ironic-common` and `python3-ironicclient` when `ironic` or `ironic-dbsync` is
 * missing. A temporary /usr/sbin/policy-rc.d (exit 101) keeps the packages' daemons from
 * starting; any Ironic daemon that starts anyway is stopped by its PID.
 */
export async function ensureIronicPackages(timeoutMs = 600_000): Promise<void> {
  const missing = [];
  for (const bin of BINARIES) if (!await exists(bin)) missing.push(bin);
  if (missing.length === 0) return;
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !await exists(policy);
  if (ownPolicy) await Deno.writeTextFile(policy, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  const before = await ironicDaemonPids();
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = ["-o", "DPkg::Lock::Timeout=300", "install", "-y", ...PACKAGES];
  try {
    try {
      await run("apt-get", install, { timeoutMs, env });
    } catch {
      await run("apt-get", ["-o", "DPkg::Lock::Timeout=300", "update"], { timeoutMs, env });
      await run("apt-get", install, { timeoutMs, env });
    }
  } finally {
    if (ownPolicy) await Deno.remove(policy).catch(() => {});
    for (const pid of await ironicDaemonPids()) {
      if (before.has(pid)) continue;
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    }
  }
  for (const bin of BINARIES) {
    if (!await exists(bin)) throw new Error(`Cannot find "${bin}" after installing ${PACKAGES}`);
  }
}

/**
 * Starts Ironic. Chooses a free port, writes ironic.conf, creates the schema and waits (bounded)
 * until the API answers and the conductor has registered `fake-hardware`.
 */
export async function startIronic(options: IronicOptions = {}): Promise<IronicInstance> {
  const release = options.release ?? "21.4";
  const chroot = release === "29" ? await ensureIronicChroot() : null;
  if (!chroot) await ensureIronicPackages();
  /** The argv of an Ironic program of the chosen release, against `stateDir`. */
  const argvOf = (stateDir: string, argv: string[]) =>
    chroot ? chrootArgv(chroot, stateDir, argv) : argv;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  const keep = options.keepStateDir ?? Deno.env.get("IRONIC_E2E_KEEP") === "1";
  const stateDir = await Deno.makeTempDir({ prefix: "ironic-e2e-" });
  try {
    for (const dir of ["tmp", "log", "locks", "deploy-logs", "certificates", "httpboot"]) {
      await Deno.mkdir(`${stateDir}/${dir}`);
    }
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    const conf = mergeConf(
      ironicConfig(stateDir, {
        port,
        httpUrl: options.httpUrl ?? "http://127.0.0.1:1",
        heartbeatTimeout: options.heartbeatTimeout ?? 3,
      }),
      options.extraConfig,
    );
    const configFile = `${stateDir}/ironic.conf`;
    await Deno.writeTextFile(configFile, renderIni(conf));
    if (chroot) await prepareMountPoint(chroot, stateDir);
    const [dbsync, ...dbsyncArgs] = argvOf(stateDir, [
      "ironic-dbsync",
      "--config-file",
      configFile,
      "create_schema",
    ]);
    await run(dbsync!, dbsyncArgs, {
      cwd: stateDir,
      timeoutMs: Math.max(deadline - Date.now(), 1000),
    });
    const logFile = `${stateDir}/log/ironic.log`;
    const consoleFile = `${stateDir}/log/console.log`;
    const child = spawnGroup(argvOf(stateDir, ["ironic", "--config-file", configFile]), {
      logFile: consoleFile,
      cwd: stateDir,
    });
    const client = new IronicClient(url);
    const instance: IronicInstance = {
      release,
      url,
      port,
      pid: child.pid,
      stateDir,
      configFile,
      logFile,
      consoleFile,
      deployLogsDir: `${stateDir}/deploy-logs`,
      client,
      logTail: (lines = 100) => readTail(logFile, lines),
      async [Symbol.asyncDispose]() {
        await stopGroup(child, { graceMs: 10_000 });
        if (chroot) await removeMountPoint(chroot, stateDir);
        if (!keep) await Deno.remove(stateDir, { recursive: true });
      },
    };
    try {
      await waitForConductor(client, () => child.exited, deadline);
    } catch (err) {
      await stopGroup(child, { graceMs: 10_000 });
      const tail = await readTail(consoleFile, 30) + (await readTail(logFile, 30));
      throw new Error(
        `Cannot start Ironic ${release} on ${url}: ${(err as Error).message}\n${tail}`,
        { cause: err },
      );
    }
    return instance;
  } catch (err) {
    if (chroot) await removeMountPoint(chroot, stateDir).catch(() => {});
    if (!keep) await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    throw err;
  }
}

async function waitForConductor(client: IronicClient, exited: () => boolean, deadline: number) {
  let last = "no answer yet";
  while (Date.now() < deadline) {
    if (exited()) throw new Error("the ironic process exited during start-up");
    try {
      const drivers = await client.request<{ drivers: { name: string }[] }>("GET", "/v1/drivers");
      if (drivers.drivers.some((d) => d.name === "fake-hardware")) return;
      last = "fake-hardware is not registered yet";
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for the API and conductor (${last})`);
}
