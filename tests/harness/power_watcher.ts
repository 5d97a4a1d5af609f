/**
 * Emulates the machine behind a `fake-hardware` node. Fake power only flips the node's
 * `power_state` field, so this watcher polls the node through the API and plays the machine:
 *
 * - a power action that the machine would feel (power off, reboot) stops the running agent's
 *   whole process group. Every such action stamps `driver_internal_info.last_power_state_change`
 *   (ironic/conductor/utils.py `nodepower_action`), which also reveals a reboot of a node that
 *   stays "power on", or an off/on pair faster than the poll interval;
 * - a powered-on machine boots the ramdisk, i.e. starts the agent, when the conductor expects a
 *   ramdisk: in a wait state (`clean wait`, `wait call-back`, ...), or while a clean, deploy or
 *   service step runs, rescue, inspection;
 * - it boots its disk instead (no agent) once the deployment has reached `tear_down_agent` or a
 *   later deploy step, or has no step left (still `deploying` for a moment), and when the node
 *   is `active`; an agent still running then is stopped.
 *
 * A node in any other state with power on (say `manageable`) keeps whatever runs. If the agent
 * exits by itself, it is started again after a pause, as the ramdisk's init system would.
 *
 *   await using watcher = watchPower(ironic.client, node.uuid, { agent: {...}, logDir });
 */

import { type AgentOptions, type AgentProcess, startAgent } from "./agent_process.ts";
import { IronicApiError, type IronicClient, type IronicNode } from "./ironic_client.ts";

/** Provision states in which the conductor waits for the ramdisk's agent (21.4 and master). */
export const RAMDISK_WAIT_STATES: ReadonlySet<string> = new Set([
  "clean wait",
  "wait call-back",
  "rescue wait",
  "inspect wait",
  "service wait",
]);

/**
 * Provision states in which the conductor is working; a machine powered on in them boots the
 * ramdisk only while a step runs (`clean_step`, `deploy_step`, `service_step`), because they
 * are also the states just before and just after the steps: a finished deployment is still
 * `deploying`, with no step, when its instance powers on.
 */
export const RAMDISK_STEP_STATES: ReadonlyMap<string, string> = new Map([
  ["cleaning", "clean_step"],
  ["deploying", "deploy_step"],
  ["servicing", "service_step"],
]);

/** Provision states without steps in which a powered-on machine boots the ramdisk. */
export const RAMDISK_STATES: ReadonlySet<string> = new Set(["rescuing", "inspecting"]);

/** Deploy steps of the `direct` interface at or after which the machine boots its disk. */
export const INSTANCE_BOOT_STEPS: ReadonlySet<string> = new Set([
  "tear_down_agent",
  "switch_to_tenant_network",
  "boot_instance",
]);

/** What the emulated machine does about one observation of the node. */
export type MachineAction =
  | { kind: "none" }
  | { kind: "stop"; reason: string }
  | { kind: "start"; reason: string };

function currentStep(node: IronicNode, field: string): string | null {
  const step = (node[field] as Record<string, unknown> | null | undefined)?.step;
  return typeof step === "string" && step !== "" ? step : null;
}

/** Whether a machine that powers on now boots the ramdisk (rather than its disk). */
export function bootsRamdisk(node: IronicNode): boolean {
  const state = node.provision_state;
  if (RAMDISK_WAIT_STATES.has(state) || RAMDISK_STATES.has(state)) return true;
  const field = RAMDISK_STEP_STATES.get(state);
  if (!field) return false;
  const step = currentStep(node, field);
  return step !== null && !(state === "deploying" && INSTANCE_BOOT_STEPS.has(step));
}

/**
 * The machine's reaction to one poll. `lastChange` is `last_power_state_change` from the
 * previous poll (undefined on the first one); `running` says whether the agent runs.
 */
export function machineAction(
  node: IronicNode,
  state: { lastChange: unknown; running: boolean },
): MachineAction {
  const change = node.driver_internal_info?.last_power_state_change;
  if (state.running) {
    if (node.power_state !== "power on") {
      return { kind: "stop", reason: `power is "${node.power_state}"` };
    }
    if (state.lastChange !== undefined && change !== state.lastChange) {
      return { kind: "stop", reason: `power action at ${change} since the last poll` };
    }
    if (node.provision_state === "active") {
      return { kind: "stop", reason: "node is active: the machine runs its instance" };
    }
    return { kind: "none" };
  }
  if (node.power_state === "power on" && !node.target_power_state && bootsRamdisk(node)) {
    const step = currentStep(node, "deploy_step") ?? currentStep(node, "clean_step");
    return {
      kind: "start",
      reason: `power on in "${node.provision_state}"${step ? ` (step ${step})` : ""}`,
    };
  }
  return { kind: "none" };
}

export interface PowerWatcherOptions {
  /** How to start the agent; `logFile` is chosen per boot inside `logDir`. */
  agent: Omit<AgentOptions, "logFile">;
  /** Directory for `agent-<boot>.log`; the caller owns and removes it. */
  logDir: string;
  /** Poll interval; 200 ms. */
  intervalMs?: number;
  /** Bound on agent starts; 20. Reaching it is recorded in `problems` and aborts `signal`. */
  maxBoots?: number;
  /** Bound on the watcher's life; 20 minutes. */
  maxDurationMs?: number;
  /** Pause before restarting an agent that exited by itself; 2 s. */
  restartDelayMs?: number;
  /** Replaces `startAgent` (for tests of the watcher itself). */
  start?: (options: AgentOptions) => Promise<AgentProcess>;
}

export interface PowerWatcher extends AsyncDisposable {
  /** How many times the agent was started. */
  readonly boots: number;
  /** Every agent started so far, in order (their log files stay until the caller removes them). */
  readonly agents: readonly AgentProcess[];
  /** The running agent, if any. */
  readonly current: AgentProcess | null;
  /** Timestamped record of what the machine did and why. */
  readonly events: readonly string[];
  /** Things that went wrong in the watcher itself (API errors, bounds reached). */
  readonly problems: readonly string[];
  /**
   * Aborted (with the reason) when emulating the machine cannot go on: the boot limit is
   * reached or the watcher ran out of time. Pass it to `waitForProvisionState` to fail fast.
   */
  readonly signal: AbortSignal;
  /**
   * Resolves after a whole poll that began after this call (the machine has caught up with
   * what the API showed at the time of the call); resolves at once when the watcher has ended.
   */
  settled(): Promise<void>;
  /** Stops polling and the running agent. */
  stop(): Promise<void>;
}

/** Starts watching `node` (UUID or name); polling runs until `stop()` or dispose. */
export function watchPower(
  client: IronicClient,
  nodeId: string,
  options: PowerWatcherOptions,
): PowerWatcher {
  const intervalMs = options.intervalMs ?? 200;
  const maxBoots = options.maxBoots ?? 20;
  const restartDelayMs = options.restartDelayMs ?? 2_000;
  const start = options.start ?? startAgent;
  const began = Date.now();
  const deadline = began + (options.maxDurationMs ?? 20 * 60_000);
  const agents: AgentProcess[] = [];
  const events: string[] = [];
  const problems: string[] = [];
  let current: AgentProcess | null = null;
  let lastChange: unknown = undefined;
  let lastExitAt = 0;
  let stopped = false;
  let wake: (() => void) | null = null;
  const failed = new AbortController();
  /** Waiters for the end of the next poll that begins after they were registered. */
  let nextPoll: (() => void)[] = [];
  let ended = false;

  function problem(text: string, fatal = false) {
    problems.push(text);
    if (fatal && !failed.signal.aborted) failed.abort(new Error(`Power watcher: ${text}`));
  }

  function note(text: string) {
    events.push(`+${((Date.now() - began) / 1000).toFixed(1)}s ${text}`);
  }

  async function stopAgent(reason: string) {
    const agent = current;
    if (!agent) return;
    current = null;
    const status = await agent.stop();
    note(
      `stopped agent #${agents.indexOf(agent) + 1} (pid ${agent.pid}): ${reason}; ` +
        `exit ${status.code}${status.signal ? ` ${status.signal}` : ""}`,
    );
  }

  async function poll() {
    let node: IronicNode;
    try {
      node = await client.getNode(nodeId);
    } catch (err) {
      if (err instanceof IronicApiError && err.status === 404) {
        await stopAgent("node deleted");
        note("node is gone; watcher ends");
        stopped = true;
        return;
      }
      problem(`GET node: ${(err as Error).message}`);
      if (problems.length > 50) {
        problem("too many API errors; watcher ends", true);
        stopped = true;
      }
      return;
    }
    if (current?.exited) {
      const status = await current.status;
      note(
        `agent #${agents.indexOf(current) + 1} (pid ${current.pid}) exited by itself: ` +
          `code ${status.code}${status.signal ? ` ${status.signal}` : ""}`,
      );
      await current.stop();
      current = null;
      lastExitAt = Date.now();
    }
    const action = machineAction(node, { lastChange, running: current !== null });
    lastChange = node.driver_internal_info?.last_power_state_change;
    if (action.kind === "stop") {
      await stopAgent(action.reason);
      // A reboot: the machine comes back in the same poll if it should boot the ramdisk.
      const again = machineAction(node, { lastChange, running: false });
      if (again.kind === "start") await startAgentFor(again.reason);
    } else if (action.kind === "start" && Date.now() - lastExitAt >= restartDelayMs) {
      await startAgentFor(action.reason);
    }
  }

  async function startAgentFor(reason: string) {
    if (agents.length >= maxBoots) {
      if (!failed.signal.aborted) {
        problem(`boot limit of ${maxBoots} agent starts reached (${reason})`, true);
      }
      return;
    }
    const boot = agents.length + 1;
    try {
      current = await start({ ...options.agent, logFile: `${options.logDir}/agent-${boot}.log` });
    } catch (err) {
      problem(`cannot start agent #${boot}: ${(err as Error).message}`);
      lastExitAt = Date.now();
      return;
    }
    agents.push(current);
    note(`started agent #${boot} (pid ${current.pid}, port ${current.port}): ${reason}`);
  }

  const loop = (async () => {
    while (!stopped) {
      if (Date.now() >= deadline) {
        problem(`watcher ran out of time (${options.maxDurationMs ?? 1_200_000} ms)`, true);
        break;
      }
      const waiting = nextPoll;
      nextPoll = [];
      try {
        await poll();
      } catch (err) {
        problem(`watcher failed: ${(err as Error).stack ?? err}`, true);
        stopped = true;
      }
      for (const resolve of waiting) resolve();
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
    await stopAgent("watcher stopped");
    ended = true;
    for (const resolve of nextPoll) resolve();
    nextPoll = [];
  })();

  function settled(): Promise<void> {
    if (ended) return Promise.resolve();
    return new Promise((resolve) => {
      nextPoll.push(resolve);
      wake?.();
    });
  }

  let stopping: Promise<void> | null = null;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      stopped = true;
      wake?.();
      await loop;
    })();
    return stopping;
  }

  return {
    get boots() {
      return agents.length;
    },
    agents,
    get current() {
      return current;
    },
    events,
    problems,
    signal: failed.signal,
    settled,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
