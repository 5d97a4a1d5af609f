/**
 * A tiny client for the Ironic API, for tests: plain `fetch` with
 * `X-OpenStack-Ironic-API-Version: latest` (no keystone; `auth_strategy = noauth`).
 */

import { sleep } from "./process_util.ts";

/** The node fields the tests read; Ironic returns many more. */
export interface IronicNode {
  uuid: string;
  name: string | null;
  driver: string;
  provision_state: string;
  target_provision_state: string | null;
  power_state: string | null;
  target_power_state: string | null;
  last_error: string | null;
  maintenance: boolean;
  instance_info: Record<string, unknown>;
  driver_internal_info: Record<string, unknown>;
  properties: Record<string, unknown>;
  clean_step: Record<string, unknown> | null;
  deploy_step: Record<string, unknown> | null;
  [key: string]: unknown;
}

export interface IronicPort {
  uuid: string;
  address: string;
  node_uuid: string;
  [key: string]: unknown;
}

/** Fields of `POST /v1/nodes`; `driver` defaults to `fake-hardware`. */
export interface NodeFields {
  name?: string;
  driver?: string;
  deploy_interface?: string;
  properties?: Record<string, unknown>;
  driver_info?: Record<string, unknown>;
  instance_info?: Record<string, unknown>;
  [key: string]: unknown;
}

/** `target` values of `PUT /v1/nodes/{node}/states/provision`. */
export type ProvisionTarget =
  | "manage"
  | "provide"
  | "active"
  | "deleted"
  | "rebuild"
  | "clean"
  | "inspect"
  | "abort"
  | "adopt"
  | "rescue"
  | "unrescue"
  | "unhold"
  | "service";

export interface WaitOptions {
  /** Bound on the whole wait. */
  timeoutMs: number;
  /** States that end the wait with an error; by default every `* failed` state and `error`. */
  failOn?: readonly string[];
  /** Poll interval; 250 ms. */
  intervalMs?: number;
  /** Ends the wait early with its reason (e.g. a power watcher's `signal`). */
  signal?: AbortSignal;
}

/** An HTTP error from the Ironic API, with Ironic's `faultstring`. */
export class IronicApiError extends Error {
  readonly status: number;
  readonly faultstring: string;
  constructor(method: string, path: string, status: number, faultstring: string) {
    super(`Ironic ${method} ${path} answered ${status}: ${faultstring}`);
    this.name = "IronicApiError";
    this.status = status;
    this.faultstring = faultstring;
  }
}

/** A node that reached a failure state, or did not reach its target in time. */
export class ProvisionStateError extends Error {
  readonly node: IronicNode;
  constructor(message: string, node: IronicNode) {
    super(message);
    this.name = "ProvisionStateError";
    this.node = node;
  }
}

const DEFAULT_FAIL_ON = [
  "error",
  "deploy failed",
  "clean failed",
  "inspect failed",
  "rescue failed",
  "unrescue failed",
  "adopt failed",
  "service failed",
];

const LOCKED_ATTEMPTS = 40;
const LOCKED_RETRY_MS = 250;

function faultOf(text: string): string {
  try {
    const body = JSON.parse(text);
    const raw = body?.error_message ?? body;
    const inner = typeof raw === "string" ? JSON.parse(raw) : raw;
    if (typeof inner?.faultstring === "string") return inner.faultstring;
  } catch {
    // Not JSON: use the text.
  }
  return text.slice(0, 2000);
}

export class IronicClient {
  readonly url: string;
  readonly #timeoutMs: number;

  constructor(url: string, options: { requestTimeoutMs?: number } = {}) {
    this.url = url.replace(/\/+$/, "");
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** One API request; returns the parsed JSON body (`undefined` when there is none). */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { "X-OpenStack-Ironic-API-Version": "latest" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // A node stays locked for a moment after reaching a stable state; Ironic answers 409
    // "Node ... is locked by host ..." then, and its own client retries as well.
    for (let attempt = 1;; attempt++) {
      const res = await fetch(`${this.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await res.text();
      if (res.ok) return (text ? JSON.parse(text) : undefined) as T;
      const fault = faultOf(text);
      if (res.status === 409 && /is locked by host/.test(fault) && attempt < LOCKED_ATTEMPTS) {
        await sleep(LOCKED_RETRY_MS);
        continue;
      }
      throw new IronicApiError(method, path, res.status, fault);
    }
  }

  /** `POST /v1/nodes` with every field in the body (never a later PATCH of those fields). */
  createNode(fields: NodeFields): Promise<IronicNode> {
    return this.request("POST", "/v1/nodes", { driver: "fake-hardware", ...fields });
  }

  createPort(node: string, address: string, fields: Record<string, unknown> = {}) {
    return this.request<IronicPort>("POST", "/v1/ports", {
      node_uuid: node,
      address,
      ...fields,
    });
  }

  getNode(node: string): Promise<IronicNode> {
    return this.request("GET", `/v1/nodes/${encodeURIComponent(node)}`);
  }

  deleteNode(node: string): Promise<void> {
    return this.request("DELETE", `/v1/nodes/${encodeURIComponent(node)}`);
  }

  /** `PATCH /v1/nodes/{node}` with JSON-patch operations. */
  patchNode(
    node: string,
    ops: readonly { op: "add" | "replace" | "remove"; path: string; value?: unknown }[],
  ): Promise<IronicNode> {
    return this.request("PATCH", `/v1/nodes/${encodeURIComponent(node)}`, ops);
  }

  /** Sets (adds or replaces) keys of `instance_info`. */
  setInstanceInfo(node: string, info: Record<string, unknown>): Promise<IronicNode> {
    return this.patchNode(
      node,
      Object.entries(info).map(([key, value]) => ({
        op: "add" as const,
        path: `/instance_info/${key}`,
        value,
      })),
    );
  }

  /** `PUT /v1/nodes/{node}/states/provision`. */
  setProvisionState(
    node: string,
    target: ProvisionTarget,
    options: {
      cleanSteps?: readonly Record<string, unknown>[];
      deploySteps?: readonly Record<string, unknown>[];
      configdrive?: unknown;
      disableRamdisk?: boolean;
      /** `rescue_password` of the `rescue` target. */
      rescuePassword?: string;
      /** `service_steps` of the `service` target (API ≥ 1.87, Ironic ≥ 2023.2). */
      serviceSteps?: readonly Record<string, unknown>[];
    } = {},
  ): Promise<void> {
    const body: Record<string, unknown> = { target };
    if (options.cleanSteps) body.clean_steps = options.cleanSteps;
    if (options.deploySteps) body.deploy_steps = options.deploySteps;
    if (options.configdrive !== undefined) body.configdrive = options.configdrive;
    if (options.disableRamdisk !== undefined) body.disable_ramdisk = options.disableRamdisk;
    if (options.rescuePassword !== undefined) body.rescue_password = options.rescuePassword;
    if (options.serviceSteps) body.service_steps = options.serviceSteps;
    return this.request("PUT", `/v1/nodes/${encodeURIComponent(node)}/states/provision`, body);
  }

  /**
   * Polls until the node is in `target` with no transition pending. Throws a
   * `ProvisionStateError` carrying `last_error` when the node enters a `failOn` state or the
   * time runs out.
   */
  async waitForProvisionState(
    node: string,
    target: string,
    options: WaitOptions,
  ): Promise<IronicNode> {
    const failOn = (options.failOn ?? DEFAULT_FAIL_ON).filter((s) => s !== target);
    const deadline = Date.now() + options.timeoutMs;
    const seen: string[] = [];
    let current = await this.getNode(node);
    for (;;) {
      const state = current.provision_state;
      if (seen.at(-1) !== state) seen.push(state);
      if (state === target && !current.target_provision_state) return current;
      if (failOn.includes(state)) {
        throw new ProvisionStateError(
          `Node ${node} went to "${state}" while waiting for "${target}" ` +
            `(states seen: ${seen.join(" → ")}); last_error: ${current.last_error}`,
          current,
        );
      }
      if (options.signal?.aborted) {
        const reason = options.signal.reason;
        throw new ProvisionStateError(
          `Gave up waiting for node ${node} to reach "${target}": ` +
            `${reason instanceof Error ? reason.message : reason}; it is "${state}" ` +
            `(states seen: ${seen.join(" → ")}); last_error: ${current.last_error}`,
          current,
        );
      }
      if (Date.now() >= deadline) {
        throw new ProvisionStateError(
          `Node ${node} did not reach "${target}" within ${options.timeoutMs} ms; it is ` +
            `"${state}" (target "${current.target_provision_state}"; states seen: ` +
            `${seen.join(" → ")}); last_error: ${current.last_error}`,
          current,
        );
      }
      await sleep(options.intervalMs ?? 250);
      current = await this.getNode(node);
    }
  }
}
