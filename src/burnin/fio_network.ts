/**
 * `burnin_network` (spec 04 §10): fio's `net` engine between this node and a partner, one as
 * writer (listening on port 9000) and one as reader, then the roles swapped so both directions
 * are loaded. The pairing comes from `agent_burnin_fio_network_config`.
 *
 * Dynamic pairing (`agent_burnin_fio_network_pairing_backend_url`) needs a tooz coordination
 * backend (etcd, ZooKeeper, ...) with group membership and locks; this agent has no client for
 * those, so it refuses such a node with an error that says so instead of guessing a partner.
 */
import { CleaningError, CommandExecutionError, reason } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import { commandLine, type Runner, ToolError } from "../system/run.ts";
import type { NetworkSettings } from "./settings.ts";

export type NetworkRole = "writer" | "reader";

/** Seconds a reader waits before connecting again to a writer that is not listening yet. */
export const NETWORK_READER_CYCLE_SECONDS = 30;
/** fio's exit code when the reader cannot connect (refused or timed out). */
const FIO_CONNECT_FAILED = 16;
/** Time fio gets beyond its runtime to connect, drain and report. */
const FIO_NET_GRACE_MS = 300_000;

export interface FioNetworkJob {
  role: NetworkRole;
  runtime: number;
  partner: string;
  outputFile?: string;
}

/** The fio command line of one direction, as IPA's `_do_fio_network` builds it. */
export function fioNetworkArgs(job: FioNetworkJob): string[] {
  const args = [
    "--ioengine",
    "net",
    "--port",
    "9000",
    "--fill_device",
    "1",
    "--group_reporting",
    "--gtod_reduce",
    "1",
    "--numjobs",
    "16",
  ];
  if (job.role === "writer") {
    args.push("--name", "writer", "--rw", "write", "--runtime", String(job.runtime));
    args.push("--time_based", "--listen");
  } else {
    args.push("--name", "reader", "--rw", "read", "--hostname", job.partner);
  }
  if (job.outputFile) args.push("--output-format", "json", "--output", job.outputFile);
  return args;
}

/** Role and partner from the node's static configuration; refuses dynamic pairing. */
export function networkPairing(settings: NetworkSettings): { role: NetworkRole; partner: string } {
  const config = settings.agent_burnin_fio_network_config;
  if (config) return config;
  const backend = settings.agent_burnin_fio_network_pairing_backend_url;
  if (!backend) {
    throw new CleaningError(
      "fio (network): dynamic pairing config is missing " +
        "agent_burnin_fio_network_pairing_backend_url (or set agent_burnin_fio_network_config " +
        'to {"role": "writer" or "reader", "partner": "<host>"})',
    );
  }
  throw new CleaningError(
    `fio (network): dynamic pairing through ${JSON.stringify(backend)} (group ` +
      `${JSON.stringify(settings.agent_burnin_fio_network_pairing_group_name)}) is not ` +
      "supported by this agent, which has no tooz coordination client; set " +
      'agent_burnin_fio_network_config to {"role": "writer" or "reader", "partner": "<host>"}',
  );
}

export interface BurninNetworkOptions {
  runner: Runner;
  log: Logger;
  settings: NetworkSettings;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runDirection(job: FioNetworkJob, options: BurninNetworkOptions): Promise<void> {
  const { runner, log, settings } = options;
  const sleep = options.sleep ?? defaultSleep;
  const now = options.now ?? Date.now;
  const pairingMs = settings.agent_burnin_fio_network_pairing_timeout * 1000;
  // A writer listens until its reader connects; a reader retries until the writer listens.
  const deadline = now() + pairingMs;
  const args = fioNetworkArgs(job);
  const timeoutMs = job.runtime * 1000 + FIO_NET_GRACE_MS + (job.role === "writer" ? pairingMs : 0);
  for (let attempt = 1;; attempt++) {
    log.info("Starting fio network burn-in", {
      role: job.role,
      partner: job.partner,
      attempt,
      command: commandLine("fio", args),
    });
    try {
      const { stdout } = await runner.run("fio", args, { timeoutMs, signal: options.signal });
      log.info("fio network burn-in direction finished", { role: job.role, report: stdout.trim() });
      return;
    } catch (err) {
      const message = `fio (network) failed with error ${reason(err)}`;
      log.error(message, { role: job.role });
      const notListening = job.role === "reader" && err instanceof ToolError &&
        err.exitCode === FIO_CONNECT_FAILED;
      if (!notListening || options.signal?.aborted) {
        throw new CommandExecutionError(message, { cause: err });
      }
      if (now() + NETWORK_READER_CYCLE_SECONDS * 1000 > deadline) {
        throw new CommandExecutionError(
          `fio (network) reader could not connect to writer ${job.partner} within ` +
            `agent_burnin_fio_network_pairing_timeout (${pairingMs / 1000} s, ${attempt} ` +
            `attempts): ${reason(err)}`,
          { cause: err },
        );
      }
      log.info("fio (network): reader retrying", { seconds: NETWORK_READER_CYCLE_SECONDS });
      await sleep(NETWORK_READER_CYCLE_SECONDS * 1000);
    }
  }
}

/** Runs both directions: the configured role first, then the other one. */
export async function burninNetwork(options: BurninNetworkOptions): Promise<void> {
  const { settings, log } = options;
  const { role, partner } = networkPairing(settings);
  const output = settings.agent_burnin_fio_network_outputfile;
  const runtime = settings.agent_burnin_fio_network_runtime;
  log.info("fio (network) pairing", { role, partner });
  await runDirection(
    { role, partner, runtime, outputFile: output && `${output}.${role}` },
    options,
  );
  log.info("fio (network): first direction done, swapping roles");
  const swapped: NetworkRole = role === "writer" ? "reader" : "writer";
  await runDirection(
    { role: swapped, partner, runtime, outputFile: output && `${output}.${swapped}` },
    options,
  );
}
