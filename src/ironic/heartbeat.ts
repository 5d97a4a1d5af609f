/**
 * The heartbeat loop (spec 01 §6, IPA-master algorithm):
 *
 * ```
 * loop until stopped:
 *     wait = min(5, max(0, interval - (now - previous)))
 *     sleep(wait)
 *     elapsed = now - previous
 *     if elapsed >= interval or (forced and elapsed > 5):
 *         heartbeat
 *         success: forced = false; interval = heartbeat_timeout × U(0.3, 0.6)
 *                  (forced stays true if forceHeartbeat() was called during the request)
 *         failure: interval = 5 × U(1, 2)
 *         previous = now
 *     sleep(0.1)
 * ```
 *
 * The first heartbeat goes out at once (interval starts at 0). The clock, random source and
 * stop signal are injected so tests run the loop on virtual time.
 */
import { HeartbeatError } from "../api/errors.ts";
import { log as rootLog, type Logger } from "../log.ts";
import { type Clock, systemClock, uniform } from "./clock.ts";
import type { HeartbeatRequest } from "./client.ts";
import {
  AgentTokenRejectedError,
  HeartbeatConflictError,
  HeartbeatConnectionError,
} from "./errors.ts";

/** Longest single wait between checks, and the minimum age of a forced heartbeat, in seconds. */
export const HEARTBEAT_POLL_SECONDS = 5;
/** Pause after every check, in seconds. */
export const HEARTBEAT_TICK_SECONDS = 0.1;

/** What the heartbeater needs from `IronicClient`. */
export interface HeartbeatSender {
  heartbeat(nodeUuid: string, request: HeartbeatRequest, signal?: AbortSignal): Promise<void>;
}

export interface TokenRejectedEvent {
  nodeUuid: string;
  /** Ironic's decoded error, e.g. "Invalid or missing agent token received.". */
  message: string;
  /** How long Ironic has rejected the token without a successful heartbeat between, ms. */
  rejectedForMs: number;
}

export interface HeartbeaterOptions {
  client: HeartbeatSender;
  nodeUuid: string;
  /** `<protocol>://<host>:<port>`; must stay byte-for-byte stable for the boot. */
  callbackUrl: string;
  /** `config.heartbeat_timeout` from lookup, seconds. */
  heartbeatTimeout: number;
  /** Reported as `agent_version`. */
  agentVersion: string;
  /** The current agent token (read before every heartbeat, so a new lookup takes effect). */
  token: () => string | null;
  /**
   * PEM of the auto-generated certificate to send as `agent_verify_ca`. Hook for automatic TLS
   * (spec 01 §8), not wired yet: without it nothing is sent.
   */
  agentVerifyCa?: () => string | null;
  /**
   * Ironic rejected the token (400 "Invalid or missing agent token received."). The agent can
   * react by looking the node up again; the loop itself keeps going with the failure interval.
   */
  onTokenRejected?: (event: TokenRejectedEvent) => void;
  /** Stops the loop, like `stop()`. */
  signal?: AbortSignal;
  clock?: Clock;
  /** Uniform in `[0, 1)`. */
  random?: () => number;
  logger?: Logger;
}

export class Heartbeater {
  readonly #options: HeartbeaterOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  #forced = false;
  /** Counts `forceHeartbeat()` calls, to keep a request made while a heartbeat is in flight. */
  #forceRequests = 0;
  #loop: Promise<void> | null = null;
  /** Clock time of the first rejection since the last successful heartbeat. */
  #rejectedSince: number | null = null;

  constructor(options: HeartbeaterOptions) {
    if (!(options.heartbeatTimeout > 0)) {
      throw new RangeError(
        `Cannot start heartbeating: heartbeat_timeout ${options.heartbeatTimeout} is not positive`,
      );
    }
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#log = (options.logger ?? rootLog).with({
      component: "heartbeat",
      node: options.nodeUuid,
    });
    this.#signal = options.signal
      ? AbortSignal.any([options.signal, this.#stop.signal])
      : this.#stop.signal;
  }

  /** Starts the loop (once); the promise settles when it stops. The first heartbeat is immediate. */
  start(): Promise<void> {
    this.#loop ??= this.#run();
    return this.#loop;
  }

  /** Requests a heartbeat within ~5 s (an asynchronous command finished). */
  forceHeartbeat(): void {
    this.#forced = true;
    this.#forceRequests++;
  }

  /** Stops the loop, aborting a heartbeat in flight, and waits for it to end. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const clock = this.#clock;
    const signal = this.#signal;
    let previous = 0;
    let interval = 0;
    this.#log.info("Starting heartbeater", { callback_url: this.#options.callbackUrl });
    while (!signal.aborted) {
      const wait = Math.min(
        HEARTBEAT_POLL_SECONDS * 1000,
        Math.max(0, interval - (clock.now() - previous)),
      );
      await clock.sleep(wait, signal);
      if (signal.aborted) break;
      const elapsed = clock.now() - previous;
      if (elapsed >= interval || (this.#forced && elapsed > HEARTBEAT_POLL_SECONDS * 1000)) {
        const requestsBefore = this.#forceRequests;
        if (await this.#heartbeat()) {
          // A command that ended while this heartbeat was in flight still gets its own.
          this.#forced = this.#forceRequests !== requestsBefore;
          interval = this.#options.heartbeatTimeout * 1000 * uniform(this.#random, 0.3, 0.6);
        } else {
          interval = HEARTBEAT_POLL_SECONDS * 1000 * uniform(this.#random, 1, 2);
        }
        previous = clock.now();
        this.#log.debug("Next heartbeat scheduled", { in_seconds: (interval / 1000).toFixed(1) });
      }
      await clock.sleep(HEARTBEAT_TICK_SECONDS * 1000, signal);
    }
    this.#log.info("Stopped heartbeater");
  }

  /** One heartbeat; true on success. Never throws. */
  async #heartbeat(): Promise<boolean> {
    const options = this.#options;
    try {
      await options.client.heartbeat(options.nodeUuid, {
        callbackUrl: options.callbackUrl,
        agentToken: options.token(),
        agentVersion: options.agentVersion,
        agentVerifyCa: options.agentVerifyCa?.() ?? null,
      }, this.#signal);
      this.#log.debug("Heartbeat successful");
      this.#rejectedSince = null;
      return true;
    } catch (err) {
      if (this.#signal.aborted) return false;
      this.#report(err);
      return false;
    }
  }

  #report(err: unknown): void {
    const error = err instanceof HeartbeatError ? err.details : String(err);
    if (err instanceof HeartbeatConflictError) {
      this.#log.warn("Heartbeat conflict (node locked in Ironic), retrying soon", { error });
    } else if (err instanceof HeartbeatConnectionError) {
      this.#log.error("Heartbeat failed: cannot connect to Ironic", { error });
    } else if (err instanceof AgentTokenRejectedError) {
      this.#log.error("Heartbeat rejected: Ironic does not accept the agent token", { error });
      this.#notifyTokenRejected(err);
    } else {
      this.#log.error("Heartbeat failed", { error });
    }
  }

  #notifyTokenRejected(err: AgentTokenRejectedError): void {
    const now = this.#clock.now();
    this.#rejectedSince ??= now;
    try {
      this.#options.onTokenRejected?.({
        nodeUuid: this.#options.nodeUuid,
        message: err.ironicMessage,
        rejectedForMs: now - this.#rejectedSince,
      });
    } catch (hookError) {
      this.#log.error("Token-rejection handler failed", { error: String(hookError) });
    }
  }
}
