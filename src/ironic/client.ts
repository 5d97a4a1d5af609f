/**
 * The HTTP client for Ironic's ramdisk endpoints (spec 01 §2, §3, §6): URL failover, request
 * timeout, common headers, microversion discovery, and the lookup and heartbeat requests.
 *
 * Failover: each request is tried against the API URLs in order; a connection-level failure
 * (refused, reset, TLS error, timeout while connecting or reading) moves on to the next URL, and
 * when the last one fails an `IronicConnectionError` is thrown. Any HTTP answer, whatever its
 * status, ends the attempt and rotates the list so the URL that answered is tried first next
 * time.
 *
 * TLS: `cafile` adds the CA bundle to the trusted roots through `Deno.createHttpClient`, and
 * `certfile`/`keyfile` add a client certificate. Without `cafile` Deno's default roots are used
 * (the bundled Mozilla store unless `DENO_TLS_CA_STORE=system`). `insecure=true` cannot be
 * honoured per client: Deno has no option to skip certificate verification for one
 * `HttpClient`. The client logs a warning instead; the operator must start the agent with
 * `--unsafely-ignore-certificate-errors[=<ironic hosts>]`, which disables verification for the
 * listed hosts process-wide.
 */
import { ConfigError, HeartbeatError } from "../api/errors.ts";
import { log as rootLog, type Logger } from "../log.ts";
import {
  AGENT_TOKEN_IRONIC_VERSION,
  AGENT_VERIFY_CA_IRONIC_VERSION,
  AGENT_VERSION_IRONIC_VERSION,
  type ApiVersion,
  formatApiVersion,
  HEARTBEAT_MAX_VERSION,
  LOOKUP_MAX_VERSION,
  MIN_IRONIC_VERSION,
  minApiVersion,
  parseApiVersion,
  supportsApiVersion,
} from "./api_version.ts";
import { decodeErrorMessage } from "./error_message.ts";
import {
  AgentTokenRejectedError,
  HeartbeatConflictError,
  HeartbeatConnectionError,
  IronicConnectionError,
} from "./errors.ts";

/** The subset of `fetch` the client uses; injectable for tests. */
export type FetchLike = (
  input: string,
  init: RequestInit & { client?: Deno.HttpClient },
) => Promise<Response>;

export interface IronicClientOptions {
  /** Ironic API base URLs in failover order; empty items dropped, trailing "/" stripped. */
  apiUrls: readonly string[];
  /** Per-request timeout in seconds (connect and read); 0 or less disables it. Default 30. */
  httpRequestTimeout?: number;
  /** Sent as `X-OpenStack-Request-ID` on every request when set. */
  globalRequestId?: string | null;
  /** Fixed server version `"X.Y"` (`ipa-ironic-api-version`); skips discovery. */
  ironicApiVersion?: string | null;
  /** Disable certificate verification (see the module comment: needs a Deno flag). */
  insecure?: boolean;
  /** PEM CA bundle trusted in addition to the default roots. */
  cafile?: string | null;
  /** PEM client certificate; needs `keyfile`. */
  certfile?: string | null;
  /** PEM private key of `certfile`. */
  keyfile?: string | null;
  /** Replaces the global `fetch` (tests). */
  fetch?: FetchLike;
  logger?: Logger;
}

/** An HTTP answer from Ironic, body already read. */
export interface IronicResponse {
  readonly status: number;
  /** The API base URL that answered. */
  readonly apiUrl: string;
  readonly body: string;
}

export interface IronicRequestOptions {
  query?: Readonly<Record<string, string>>;
  headers?: Readonly<Record<string, string>>;
  /** Sent as JSON. */
  body?: unknown;
  /** Aborts the request without failing over; the abort reason is rethrown. */
  signal?: AbortSignal;
}

export interface LookupRequest {
  /** MAC addresses, comma-joined into `addresses`. */
  addresses: readonly string[];
  /** Node UUID from inspection, sent as `node_uuid` when set. */
  nodeUuid?: string | null;
}

export interface HeartbeatRequest {
  /** `<protocol>://<host>:<port>`, stable for the whole boot. */
  callbackUrl: string;
  /** Sent (even as null) when the server is at least 1.62. */
  agentToken: string | null;
  /** Sent when the server is at least 1.36. */
  agentVersion: string;
  /**
   * PEM of an auto-generated certificate, sent as `agent_verify_ca` when set and the server is
   * at least 1.68. Hook for automatic TLS (spec 01 §8); nothing passes it yet.
   */
  agentVerifyCa?: string | null;
}

/** Matches Ironic's 400 faultstring for a missing or wrong agent token. */
const TOKEN_REJECTED = /(invalid|missing)[^.]*agent[ _]token/i;

/** Trims, drops empty items and strips trailing "/" (spec 01 §2). */
export function normalizeApiUrls(urls: readonly string[]): string[] {
  return urls.map((u) => u.trim().replace(/\/+$/, "")).filter((u) => u !== "");
}

function readPem(path: string, field: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    throw new ConfigError(`Cannot read ${field} "${path}": ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function createHttpClient(options: IronicClientOptions): Deno.HttpClient | undefined {
  const caCerts = options.cafile ? [readPem(options.cafile, "cafile")] : undefined;
  if (Boolean(options.certfile) !== Boolean(options.keyfile)) {
    throw new ConfigError(
      `Cannot use a client certificate: certfile "${options.certfile ?? ""}" and keyfile ` +
        `"${options.keyfile ?? ""}" must be set together`,
    );
  }
  if (options.certfile && options.keyfile) {
    return Deno.createHttpClient({
      caCerts,
      cert: readPem(options.certfile, "certfile"),
      key: readPem(options.keyfile, "keyfile"),
    });
  }
  return caCerts ? Deno.createHttpClient({ caCerts }) : undefined;
}

function describeFailure(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `timed out after ${timeoutMs / 1000} s`;
  if (!(err instanceof Error)) return String(err);
  // fetch() says only "fetch failed"; the reason (refused, certificate not trusted) is the cause.
  return err.cause instanceof Error ? `${err.message} (${err.cause.message})` : err.message;
}

export class IronicClient {
  #urls: string[];
  readonly #timeoutMs: number;
  readonly #requestId: string | null;
  readonly #fixedVersion: ApiVersion | null;
  readonly #fetch: FetchLike;
  readonly #httpClient: Deno.HttpClient | undefined;
  readonly #log: Logger;
  #version: ApiVersion | null = null;

  constructor(options: IronicClientOptions) {
    this.#urls = normalizeApiUrls(options.apiUrls);
    if (this.#urls.length === 0) {
      throw new ConfigError("Cannot create the Ironic API client: api_url is empty");
    }
    this.#log = (options.logger ?? rootLog).with({ component: "ironic" });
    const timeout = options.httpRequestTimeout ?? 30;
    this.#timeoutMs = timeout > 0 ? timeout * 1000 : 0;
    this.#requestId = options.globalRequestId || null;
    this.#fetch = options.fetch ?? fetch;
    this.#fixedVersion = null;
    if (options.ironicApiVersion) {
      try {
        this.#fixedVersion = parseApiVersion(options.ironicApiVersion);
      } catch (err) {
        this.#log.warn("Ignoring ironic_api_version, falling back to discovery", {
          value: options.ironicApiVersion,
          error: (err as Error).message,
        });
      }
    }
    if (options.insecure) {
      this.#log.warn(
        "insecure=true: Deno cannot disable TLS verification per client; start the agent with " +
          "--unsafely-ignore-certificate-errors to reach an Ironic API with an untrusted certificate",
        { api_urls: this.#urls.join(",") },
      );
    }
    this.#httpClient = createHttpClient(options);
  }

  /** The API URLs in the order the next request tries them. */
  get apiUrls(): readonly string[] {
    return [...this.#urls];
  }

  /** Releases the TLS client, if one was created. */
  close(): void {
    this.#httpClient?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Sends one request with failover. Throws `IronicConnectionError` when every URL fails at the
   * connection level; HTTP error statuses are returned, not thrown.
   */
  async request(
    method: string,
    path: string,
    options: IronicRequestOptions = {},
  ): Promise<IronicResponse> {
    const urls = [...this.#urls];
    const failures: string[] = [];
    for (const [index, apiUrl] of urls.entries()) {
      try {
        const response = await this.#attempt(apiUrl, method, path, options);
        this.#rotateTo(apiUrl);
        return response;
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason ?? err;
        const reason = err instanceof AttemptError ? err.message : String(err);
        failures.push(`${apiUrl}: ${reason}`);
        if (index < urls.length - 1) {
          this.#log.warn("Ironic API URL failed, trying the next one", {
            url: apiUrl,
            method,
            path,
            error: reason,
          });
        }
      }
    }
    throw new IronicConnectionError(
      `Cannot ${method} ${path}: no Ironic API URL answered (${failures.join("; ")})`,
    );
  }

  /**
   * The server's maximum microversion: `ironic_api_version` if configured, else `GET /`
   * `default_version.version`, cached. On any failure returns 1.31 without caching it.
   */
  async serverVersion(signal?: AbortSignal): Promise<ApiVersion> {
    if (this.#fixedVersion) return this.#fixedVersion;
    if (this.#version) return this.#version;
    try {
      const response = await this.request("GET", "/", { signal });
      if (response.status !== 200) {
        throw new Error(`HTTP ${response.status}: ${decodeErrorMessage(response.body)}`);
      }
      const root = JSON.parse(response.body) as { default_version?: { version?: unknown } };
      const text = root?.default_version?.version;
      if (typeof text !== "string") throw new Error("default_version.version is missing");
      this.#version = parseApiVersion(text);
      this.#log.debug("Discovered Ironic API version", { version: text });
      return this.#version;
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      this.#log.warn("Cannot discover the Ironic API version, assuming the minimum", {
        assumed: formatApiVersion(MIN_IRONIC_VERSION),
        error: err instanceof Error ? err.message : String(err),
      });
      return MIN_IRONIC_VERSION;
    }
  }

  /** True when the server accepts `agent_verify_ca` (automatic TLS, spec 01 §8). */
  async supportsAutoTls(signal?: AbortSignal): Promise<boolean> {
    return supportsApiVersion(await this.serverVersion(signal), AGENT_VERIFY_CA_IRONIC_VERSION);
  }

  /** `GET /v1/lookup` at `min(server, 1.62)`; the caller interprets the answer. */
  async lookup(request: LookupRequest, signal?: AbortSignal): Promise<IronicResponse> {
    const version = minApiVersion(await this.serverVersion(signal), LOOKUP_MAX_VERSION);
    const query: Record<string, string> = { addresses: request.addresses.join(",") };
    if (request.nodeUuid) query.node_uuid = request.nodeUuid;
    return await this.request("GET", "/v1/lookup", {
      query,
      headers: { "X-OpenStack-Ironic-API-Version": formatApiVersion(version) },
      signal,
    });
  }

  /**
   * `POST /v1/heartbeat/{uuid}` at `min(server, 1.68)`. Resolves on 202; otherwise throws
   * `HeartbeatConnectionError`, `HeartbeatConflictError` (409), `AgentTokenRejectedError` (400
   * about the token) or `HeartbeatError`.
   */
  async heartbeat(
    nodeUuid: string,
    request: HeartbeatRequest,
    signal?: AbortSignal,
  ): Promise<void> {
    const server = await this.serverVersion(signal);
    const body: Record<string, unknown> = { callback_url: request.callbackUrl };
    if (supportsApiVersion(server, AGENT_TOKEN_IRONIC_VERSION)) {
      body.agent_token = request.agentToken ?? null;
    }
    if (supportsApiVersion(server, AGENT_VERSION_IRONIC_VERSION)) {
      body.agent_version = request.agentVersion;
    }
    if (request.agentVerifyCa && supportsApiVersion(server, AGENT_VERIFY_CA_IRONIC_VERSION)) {
      body.agent_verify_ca = request.agentVerifyCa;
    }
    const version = formatApiVersion(minApiVersion(server, HEARTBEAT_MAX_VERSION));
    const path = `/v1/heartbeat/${encodeURIComponent(nodeUuid)}`;
    this.#log.debug("Heartbeat: announcing callback URL", {
      node: nodeUuid,
      callback_url: request.callbackUrl,
      version,
    });
    let response: IronicResponse;
    try {
      response = await this.request("POST", path, {
        body,
        headers: { "X-OpenStack-Ironic-API-Version": version },
        signal,
      });
    } catch (err) {
      if (err instanceof IronicConnectionError) {
        throw new HeartbeatConnectionError(err.details, { cause: err });
      }
      throw err;
    }
    if (response.status === 202) return;
    const message = decodeErrorMessage(response.body);
    const details = `Heartbeat for node ${nodeUuid} got HTTP ${response.status}: ${message}`;
    if (response.status === 409) throw new HeartbeatConflictError(details);
    if (response.status === 400 && TOKEN_REJECTED.test(message)) {
      throw new AgentTokenRejectedError(details, message);
    }
    throw new HeartbeatError(details);
  }

  /**
   * True when `url` gives any HTTP answer to a plain GET within the request timeout. A TLS
   * certificate failure counts as an answer (IPA probes with verification disabled, which Deno
   * cannot do per client).
   */
  async probe(url: string): Promise<boolean> {
    try {
      await this.#attempt(url.replace(/\/+$/, ""), "GET", "", {});
      return true;
    } catch (err) {
      return err instanceof AttemptError && /certificate/i.test(err.message);
    }
  }

  async #attempt(
    apiUrl: string,
    method: string,
    path: string,
    options: IronicRequestOptions,
  ): Promise<IronicResponse> {
    const search = options.query ? `?${new URLSearchParams(options.query)}` : "";
    const url = `${apiUrl}${path}${search}`;
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      "Accept": "application/json",
      ...options.headers,
    };
    if (this.#requestId) headers["X-OpenStack-Request-ID"] = this.#requestId;
    const controller = new AbortController();
    let timedOut = false;
    const timer = this.#timeoutMs > 0
      ? setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, this.#timeoutMs)
      : undefined;
    const onAbort = () => controller.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    try {
      const response = await this.#fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: controller.signal,
        client: this.#httpClient,
      });
      const body = await response.text();
      return { status: response.status, apiUrl, body };
    } catch (err) {
      throw new AttemptError(describeFailure(err, timedOut, this.#timeoutMs), { cause: err });
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
    }
  }

  #rotateTo(apiUrl: string): void {
    const index = this.#urls.indexOf(apiUrl);
    if (index > 0) this.#urls = [...this.#urls.slice(index), ...this.#urls.slice(0, index)];
  }
}

/** One URL failed at the connection level (internal to failover). */
class AttemptError extends Error {}
