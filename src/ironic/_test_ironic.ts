/**
 * Test helper: a fake Ironic API on a real `Deno.serve` (127.0.0.1, port 0) that answers the
 * root version document and records every request. Not part of the module's API.
 */

export interface RecordedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: Headers;
  /** Parsed JSON body, or undefined. */
  body: unknown;
}

export type FakeHandler = (req: RecordedRequest) => Response | Promise<Response>;

export interface FakeIronicOptions {
  /** `default_version.version` of `GET /`; null makes `GET /` answer 500. Default "1.99". */
  version?: string | null;
  /** Answers every other request; default 404. */
  handler?: FakeHandler;
  /** Path prefix the API is served under, e.g. "/baremetal". */
  prefix?: string;
}

export interface FakeIronic extends AsyncDisposable {
  /** Base URL including the prefix, without trailing slash. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** A JSON response. */
export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

/** An Ironic-style error: `error_message` holds a JSON-encoded string. */
export function ironicError(status: number, faultstring: string): Response {
  return json(status, {
    error_message: JSON.stringify({ faultcode: "Client", faultstring, debuginfo: null }),
  });
}

export function startFakeIronic(options: FakeIronicOptions = {}): FakeIronic {
  const requests: RecordedRequest[] = [];
  const prefix = options.prefix ?? "";
  const version = options.version === undefined ? "1.99" : options.version;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const text = await req.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
    const recorded = {
      method: req.method,
      path,
      query: url.searchParams,
      headers: req.headers,
      body,
    };
    requests.push(recorded);
    if (path === "/" && req.method === "GET") {
      if (version === null) return ironicError(500, "Internal Server Error");
      return json(200, {
        name: "OpenStack Ironic API",
        default_version: { id: "v1", status: "CURRENT", min_version: "1.1", version },
      });
    }
    return options.handler ? await options.handler(recorded) : ironicError(404, "Not found");
  });
  const url = `http://127.0.0.1:${server.addr.port}${prefix}`;
  async function close(): Promise<void> {
    await server.shutdown();
  }
  return { url, requests, close, [Symbol.asyncDispose]: close };
}

/** A URL on which nothing listens (connection refused). */
export function refusedUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return `http://127.0.0.1:${port}`;
}
