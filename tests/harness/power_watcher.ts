/**
 * Emulates the machine behind a `fake-hardware` node. Fake power only flips the node's
 * `power_state` field, so this watcher polls the node through the API and plays the machine:
 *
 * - a power action that the machine would feel (power off, reboot) stops the running agent's
 *   whole process group. Every such action stamps `driver_internal_info.last_power_state_change`
 *   (ironic/conductor/utils.py `nodepower_action`), which also reveals a reboot of a node that
 *   stays "power on", or an off/on pair faster than the poll interval;
 * - a powered-on machine boots the ramdisk, i.e. starts the agent, when the conductor expects a
 *   ramdisk: cleaning, deploying (before the instance boots), rescue, inspection, servicing;
 * - it boots its disk instead (no agent) once the deployment has reached `tear_down_agent` or a
 *   later deploy step, and when the node is `active`; an agent still running then is stopped.
 *
 * A node in any other state with power on (say `manageable`) keeps whatever runs. If the agent
 * exits by itself, it is started again after a pause, as the ramdisk's init system would.
 *
 *   await using watcher = watchPower(ironic.client, node.uuid, { agent: {...}, logDir });
 */

import { type AgentOptions, type AgentProcess, startAgent } from "./agent_process.ts";
import { IronicApiError, type IronicClient, type IronicNode } from "./ironic_client.ts";

/** Provision states in which a powered-on machine boots the ramdisk (21.4 and master). */
export const RAMDISK_STATES: ReadonlySet<string> = new Set([
  "cleaning",
  "clean wait",
  "deploying",
  "wait call-back",
  "rescuing",
  "rescue wait",
  "inspecting",
  "inspect wait",
  "servicing",
  "service wait",
]);

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

/** Whether a machine that powers on now boots the ramdisk (rather than its disk). */
export function bootsRamdisk(node: IronicNode): boolean {
  if (!RAMDISK_STATES.has(node.provision_state)) return false;
  const step = node.deploy_step?.step;
  return !(node.provision_state === "deploying" && typeof step === "string" &&
    INSTANCE_BOOT_STEPS.has(step));
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
      return { kind: "stop", reason: `power action at ${change} (reboot)` };
    }
    if (node.provision_state === "active") {
      return { kind: "stop", reason: "node is active: the machine runs its instance" };
    }
    return { kind: "none" };
  }
  if (node.power_state === "power on" && !node.target_power_state && bootsRamdisk(node)) {
    const step = node.deploy_step?.step ?? node.clean_step?.step;
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
      await poll();
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
  })();

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
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
