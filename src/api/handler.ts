/**
 * The agent's HTTP API (spec 02) as a plain handler value: `(req) => Promise<Response>`.
 * Listening is thin wiring in server.ts; tests call the handler with `new Request(...)`.
 * Every error from any route is mapped to the error body in one place (`toResponse`).
 */
import {
  AgentError,
  BadRequestError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RouteNotFoundError,
  toFaultBody,
} from "./errors.ts";
import type { CommandExecutor, CommandRecord } from "../commands/executor.ts";
import { requestToken, type TokenGuard } from "./token_guard.ts";
import { log as rootLog, type Logger } from "../log.ts";

export interface AgentStatus {
  started_at: number | null;
  version: string;
}

export interface ApiDeps {
  executor: CommandExecutor;
  tokens: TokenGuard;
  status(): AgentStatus;
  log?: Logger;
  /** Largest accepted request body (config drives travel inline; default 128 MiB). */
  maxBodyBytes?: number;
}

export interface RequestInfo {
  remoteAddr?: { hostname?: string };
}

export type Handler = (req: Request, info?: RequestInfo) => Promise<Response>;

const DOCS_URL = "https://docs.openstack.org/ironic-python-agent/";
const DEFAULT_MAX_BODY = 128 * 1024 * 1024;

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function toResponse(err: unknown, log: Logger): Response {
  if (err instanceof AgentError) {
    const headers: Record<string, string> = err instanceof MethodNotAllowedError
      ? { allow: err.details.replace(/^Allowed: /, "") }
      : {};
    return json(toFaultBody(err), err.code, headers);
  }
  log.error("unexpected error in API handler", { error: String(err) });
  return json({ faultcode: "Server", faultstring: `Internal server error: ${err}` }, 500);
}

function links(base: string, path: string) {
  return [
    { href: `${base}${path}`, rel: "self" },
    { href: DOCS_URL, rel: "describedby", type: "text/html" },
  ];
}

function rootDocument(base: string) {
  const version = { id: "v1", links: links(base, "/v1") };
  return {
    name: "OpenStack Ironic Python Agent API",
    description: "Ironic Python Agent is a provisioning agent for OpenStack Ironic",
    versions: [version],
    default_version: version,
  };
}

function v1Document(base: string) {
  return {
    id: "v1",
    links: links(base, "/v1"),
    commands: [
      { href: `${base}/v1/commands`, rel: "self" },
      { href: `${base}/commands`, rel: "bookmark" },
    ],
    status: [
      { href: `${base}/v1/status`, rel: "self" },
      { href: `${base}/status`, rel: "bookmark" },
    ],
    media_types: [
      { base: "application/json", type: "application/vnd.openstack.ironic-python-agent.v1+json" },
    ],
  };
}

async function readBody(req: Request, limit: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > limit) throw new PayloadTooLargeError(`Request body exceeds ${limit} bytes`);
  if (!req.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLargeError(`Request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    all.set(c, offset);
    offset += c.length;
  }
  return new TextDecoder().decode(all);
}

/** `{name, params}` or 400 "Missing or invalid name or params" (spec 02 §6.1). */
function parseCommandBody(text: string): { name: string; params: Record<string, unknown> } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequestError("Missing or invalid name or params (body is not valid JSON)");
  }
  if (
    typeof body !== "object" || body === null || Array.isArray(body) ||
    typeof (body as { name?: unknown }).name !== "string" ||
    typeof (body as { params?: unknown }).params !== "object" ||
    (body as { params?: unknown }).params === null ||
    Array.isArray((body as { params?: unknown }).params)
  ) {
    throw new BadRequestError("Missing or invalid name or params");
  }
  return body as { name: string; params: Record<string, unknown> };
}

function wantsWait(url: URL): boolean {
  return url.searchParams.get("wait")?.toLowerCase() === "true";
}

type Route =
  | { kind: "root" }
  | { kind: "v1" }
  | { kind: "status" }
  | { kind: "commands" }
  | { kind: "command"; id: string };

/** A percent-encoded path segment; a malformed escape (`%ZZ`) is the client's error, not a 500. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`Malformed command id in the path: "${segment.slice(0, 64)}"`);
  }
}

/** Maps a path to a route; both `/v1/commands` and `/v1/commands/` are accepted. */
function matchRoute(path: string): Route | null {
  if (path === "/") return { kind: "root" };
  if (path === "/v1" || path === "/v1/") return { kind: "v1" };
  const rest = path.startsWith("/v1/") ? path.slice(3) : path;
  if (rest === "/status" || rest === "/status/") return { kind: "status" };
  if (rest === "/commands" || rest === "/commands/") return { kind: "commands" };
  const m = /^\/commands\/([^/]+)\/?$/.exec(rest);
  if (m) return { kind: "command", id: decodeSegment(m[1]!) };
  return null;
}

const ALLOWED: Record<Route["kind"], string[]> = {
  root: ["GET"],
  v1: ["GET"],
  status: ["GET"],
  commands: ["GET", "POST"],
  command: ["GET"],
};

function commandJson(record: CommandRecord, withProgress: boolean) {
  const body: Record<string, unknown> = { ...record.toJSON() };
  if (withProgress && record.progress) body.command_progress = record.progress;
  return body;
}

export function createHandler(deps: ApiDeps): Handler {
  const log = deps.log ?? rootLog;
  const maxBody = deps.maxBodyBytes ?? DEFAULT_MAX_BODY;

  async function route(req: Request, url: URL): Promise<Response> {
    const matched = matchRoute(url.pathname);
    if (!matched) {
      throw new RouteNotFoundError(
        "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
      );
    }
    const method = req.method === "HEAD" ? "GET" : req.method;
    if (!ALLOWED[matched.kind].includes(method)) {
      throw new MethodNotAllowedError(`Allowed: ${ALLOWED[matched.kind].join(", ")}`);
    }
    const base = url.origin;
    const token = requestToken(url, req.headers);
    switch (matched.kind) {
      case "root":
        return json(rootDocument(base));
      case "v1":
        return json(v1Document(base));
      case "status":
        return json(deps.status());
      case "commands":
        if (method === "POST") {
          deps.tokens.checkPost(token);
          const { name, params } = parseCommandBody(await readBody(req, maxBody));
          const record = await deps.executor.execute(name, params);
          if (wantsWait(url)) await record.done;
          return json(record.toJSON());
        }
        deps.tokens.checkGet(token);
        return json({ commands: deps.executor.list().map((r) => r.toJSON()) });
      case "command": {
        deps.tokens.checkGet(token);
        const record = deps.executor.get(matched.id);
        if (wantsWait(url)) await record.done;
        return json(commandJson(record, true));
      }
    }
  }

  return async function handle(req, info) {
    const started = performance.now();
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return toResponse(new BadRequestError(`Malformed request URL`), log);
    }
    let response: Response;
    try {
      response = await route(req, url);
    } catch (err) {
      response = toResponse(err, log);
    }
    log.info("api request", {
      client: req.headers.get("x-forwarded-for")?.split(",")[0]?.trim() ??
        req.headers.get("x-real-ip") ?? info?.remoteAddr?.hostname,
      method: req.method,
      path: url.pathname + url.search,
      status: response.status,
      ms: (performance.now() - started).toFixed(1),
    });
    return response;
  };
}
