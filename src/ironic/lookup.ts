/**
 * Node lookup (spec 01 §4, §5): `GET /v1/lookup` retried until it yields a valid node or
 * `lookup_timeout` passes, then the agent token rules applied to the answer.
 *
 * Retry policy (IPA's tenacity `wait_random_exponential`): after failed attempt n the loop waits
 * uniform `[interval, max(interval, min(maxInterval, 2^(n-1)))]`; a 409 adds a pause of 5, 10,
 * then 30 s, counted per client for the whole process (see `ConflictPause`). When the deadline
 * has passed after a failed attempt, `LookupNodeError` ends the loop.
 */
import { LookupNodeError } from "../api/errors.ts";
import { log as rootLog, type Logger } from "../log.ts";
import { acceptAgentToken } from "./agent_token.ts";
import { type Clock, systemClock, uniform } from "./clock.ts";
import type { IronicClient, IronicResponse } from "./client.ts";
import { decodeErrorMessage } from "./error_message.ts";
import { IronicConnectionError } from "./errors.ts";
import {
  InvalidLookupResponse,
  type LookupConfig,
  type LookupNode,
  parseLookupResponse,
} from "./lookup_response.ts";

/** The pauses after successive 409 answers, in seconds; the last one repeats. */
export const CONFLICT_PAUSES: readonly number[] = [5, 10, 30];

/** Counts 409 answers to lookups; never reset. */
export class ConflictPause {
  #count = 0;

  /** Seconds to pause after the next 409. */
  next(): number {
    const pause = CONFLICT_PAUSES[Math.min(this.#count, CONFLICT_PAUSES.length - 1)] ?? 30;
    this.#count++;
    return pause;
  }
}

// One counter per client, so repeated lookups in one process share it as IPA's client does.
const conflictPauses = new WeakMap<IronicClient, ConflictPause>();

function conflictPauseFor(client: IronicClient): ConflictPause {
  let pause = conflictPauses.get(client);
  if (!pause) {
    pause = new ConflictPause();
    conflictPauses.set(client, pause);
  }
  return pause;
}

export interface LookupOptions {
  /** MAC addresses of the inventory interfaces that have one. */
  addresses: readonly string[];
  /** Node UUID returned by inspection, if any. */
  nodeUuid?: string | null;
  /** `lookup_timeout`, seconds since the first attempt. Default 600. */
  timeout?: number;
  /** `lookup_interval`, the shortest wait between attempts in seconds. Default 1. */
  interval?: number;
  /** Longest wait between attempts in seconds. Default 60. */
  maxInterval?: number;
  /** Token already known (configuration, pregenerated, or an earlier lookup). */
  knownToken?: string | null;
  /** Defaults to the client's own counter. */
  conflictPause?: ConflictPause;
  clock?: Clock;
  /** Uniform in `[0, 1)`. */
  random?: () => number;
  /** Aborting ends the lookup by rethrowing the abort reason. */
  signal?: AbortSignal;
  logger?: Logger;
}

export interface LookupResult {
  node: LookupNode;
  /** The lookup `config` (old format normalised to `{heartbeat_timeout}`). */
  config: LookupConfig;
  /** Seconds; drives the heartbeat interval. */
  heartbeatTimeout: number;
  /** The token to use from now on, or null. */
  token: string | null;
  /** Ironic masked the token and none is known: stop serving (spec 01 §5). */
  tokenUnavailable: boolean;
}

type Attempt =
  | { ok: true; node: LookupNode; config: LookupConfig }
  | { ok: false; conflict: boolean };

/** The wait after failed attempt `attempt` (1-based), in seconds. */
export function lookupRetryWait(
  attempt: number,
  options: { interval: number; maxInterval: number; random: () => number },
): number {
  const high = Math.max(options.interval, Math.min(options.maxInterval, 2 ** (attempt - 1)));
  return uniform(options.random, options.interval, high);
}

async function attemptLookup(
  client: IronicClient,
  options: LookupOptions,
  log: Logger,
): Promise<Attempt> {
  const fields = { addresses: options.addresses.join(","), node_uuid: options.nodeUuid };
  let response: IronicResponse;
  try {
    response = await client.lookup(
      { addresses: options.addresses, nodeUuid: options.nodeUuid },
      options.signal,
    );
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason ?? err;
    const error = err instanceof IronicConnectionError ? err.details : String(err);
    log.warn("Lookup failed to reach Ironic, retrying", { ...fields, error });
    return { ok: false, conflict: false };
  }
  if (response.status !== 200) {
    log.warn("Lookup failed, retrying. Check if inspection has completed", {
      ...fields,
      url: response.apiUrl,
      status: response.status,
      error: decodeErrorMessage(response.body),
    });
    return { ok: false, conflict: response.status === 409 };
  }
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch (err) {
    log.warn("Lookup answer is not JSON, retrying", {
      ...fields,
      url: response.apiUrl,
      error: (err as Error).message,
    });
    return { ok: false, conflict: false };
  }
  try {
    return { ok: true, ...parseLookupResponse(body, log) };
  } catch (err) {
    if (!(err instanceof InvalidLookupResponse)) throw err;
    log.warn("Lookup answer is invalid, retrying", {
      ...fields,
      url: response.apiUrl,
      error: err.message,
    });
    return { ok: false, conflict: false };
  }
}

/**
 * Looks up this node in Ironic, retrying per spec 01 §4. Throws `LookupNodeError` ("Could not
 * look up node info ...") once `timeout` has passed; the agent should then exit non-zero.
 */
export async function lookupNode(
  client: IronicClient,
  options: LookupOptions,
): Promise<LookupResult> {
  const log = (options.logger ?? rootLog).with({ component: "lookup" });
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const timeout = options.timeout ?? 600;
  const interval = options.interval ?? 1;
  const maxInterval = options.maxInterval ?? 60;
  const conflictPause = options.conflictPause ?? conflictPauseFor(client);
  const start = clock.now();
  for (let attempt = 1;; attempt++) {
    const outcome = await attemptLookup(client, options, log);
    if (outcome.ok) {
      const decision = acceptAgentToken(
        outcome.config.agent_token,
        options.knownToken ?? null,
        log,
      );
      log.info("Lookup succeeded", { node: outcome.node.uuid, attempts: attempt });
      return {
        node: outcome.node,
        config: outcome.config,
        heartbeatTimeout: outcome.config.heartbeat_timeout,
        token: decision.token,
        tokenUnavailable: decision.unavailable,
      };
    }
    if (outcome.conflict) {
      const pause = conflictPause.next();
      log.warn("Node is locked in Ironic, pausing before the next lookup", { seconds: pause });
      await pauseOrThrow(clock, pause, options.signal);
    }
    const elapsed = (clock.now() - start) / 1000;
    if (elapsed >= timeout) {
      throw new LookupNodeError(
        `Could not look up node info with addresses "${options.addresses.join(",")}" ` +
          `within lookup_timeout ${timeout} s (${attempt} attempts). Check logs for details.`,
      );
    }
    await pauseOrThrow(
      clock,
      lookupRetryWait(attempt, { interval, maxInterval, random }),
      options.signal,
    );
  }
}

async function pauseOrThrow(clock: Clock, seconds: number, signal?: AbortSignal): Promise<void> {
  await clock.sleep(seconds * 1000, signal);
  if (signal?.aborted) throw signal.reason;
}
