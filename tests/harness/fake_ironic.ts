/**
 * A minimal fake Ironic API for tests of the agent process that need no conductor: version
 * discovery (API 1.82, so automatic TLS is on), `/v1/lookup` answering one node, and heartbeats.
 * Every request is recorded with its arrival time. It can be stopped and started again on the
 * same port (an Ironic restart).
 *
 *   await using ironic = startFakeIronic({ node: NODE, token: TOKEN });
 */

export interface FakeIronicOptions {
  /** The node UUID that lookup returns and heartbeats go to. */
  node: string;
  /** The `agent_token` that lookup hands out. */
  token: string;
  /** `config.heartbeat_timeout` in the lookup answer, in seconds; 1. */
  heartbeatTimeout?: number;
}

export interface FakeIronic extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`; the same after a restart. */
  readonly url: string;
  /** Every request received, in order. */
  readonly requests: readonly { at: number; path: string }[];
  /** Every heartbeat received, with its JSON body. */
  readonly heartbeats: readonly { at: number; body: Record<string, unknown> }[];
  /** How many lookups were answered. */
  readonly lookups: number;
  /** Listens again on the same port after `stop()`. */
  start(): void;
  /** Stops listening; `start()` listens on the same port again. */
  stop(): Promise<void>;
}

/** Starts the fake Ironic on a free 127.0.0.1 port. */
export function startFakeIronic(options: FakeIronicOptions): FakeIronic {
  const requests: { at: number; path: string }[] = [];
  const heartbeats: { at: number; body: Record<string, unknown> }[] = [];
  let lookups = 0;
  let port = 0;
  let server: Deno.HttpServer<Deno.NetAddr> | null = null;

  async function handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    requests.push({ at: Date.now(), path });
    if (path === "/") return Response.json({ default_version: { version: "1.82" } });
    if (path === "/v1/lookup") {
      lookups++;
      return Response.json({
        node: { uuid: options.node, properties: {}, instance_info: {}, driver_internal_info: {} },
        config: { heartbeat_timeout: options.heartbeatTimeout ?? 1, agent_token: options.token },
      });
    }
    if (path === `/v1/heartbeat/${options.node}`) {
      heartbeats.push({ at: Date.now(), body: await req.json() });
      return new Response(null, { status: 202 });
    }
    return Response.json({ error_message: "not found" }, { status: 404 });
  }

  function start() {
    if (server) throw new Error("Cannot start the fake Ironic: it is already listening");
    server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, handle);
    port = server.addr.port;
  }
  async function stop() {
    await server?.shutdown();
    server = null;
  }

  start();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    heartbeats,
    get lookups() {
      return lookups;
    },
    start,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
