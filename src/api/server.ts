/** Listening: thin wiring around the handler value (`Deno.serve`). */
import type { Logger } from "../log.ts";
import type { Handler } from "./handler.ts";

export interface ServeOptions {
  hostname: string;
  port: number;
  handler: Handler;
  log: Logger;
  /** Closing the listener when aborted. */
  signal: AbortSignal;
  /** PEM certificate and key: serve HTTPS (spec 01 §8). */
  tls?: { cert: string; key: string } | null;
}

export interface ServedApi {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Settles once the server has shut down. */
  readonly finished: Promise<void>;
}

export function serveApi(options: ServeOptions): ServedApi {
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    signal: options.signal,
    ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
    onListen: ({ hostname, port }) =>
      options.log.info("agent API listening", {
        hostname,
        port,
        protocol: options.tls ? "https" : "http",
      }),
    onError: (err) => {
      options.log.error("unhandled error in the API server", { error: String(err) });
      return new Response(
        JSON.stringify({ faultcode: "Server", faultstring: "Internal server error" }),
        { status: 500, headers: { "content-type": "application/json" } },
      );
    },
  }, (req, info) => options.handler(req, { remoteAddr: info.remoteAddr }));
  return { port: server.addr.port, finished: server.finished };
}
