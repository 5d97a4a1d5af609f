/**
 * A local HTTP image server for download tests: real `Deno.serve` on 127.0.0.1, port 0, with
 * faults a test can ask for per path (HTTP 500 a few times, a fixed status such as 404, a
 * connection dropped mid-body, a body that stalls).
 *
 *   await using server = startImageServer({
 *     "/disk.img": { body: image, failTimes: 2 },
 *     "/SHA256SUMS": { body: `${digest}  disk.img\n` },
 *   });
 *   server.url("/disk.img") // "http://127.0.0.1:41234/disk.img"
 *   server.requests("/disk.img") // 3 after a successful download
 */

export interface ServedFile {
  /** Content: bytes, text, or a file read from disk on each request. */
  body: Uint8Array | string | { path: string };
  /** Always answer with this status and a short text body (e.g. 404). */
  status?: number;
  /** Answer HTTP 500 to the first `failTimes` requests. */
  failTimes?: number;
  /** For the first `dropTimes` (default 1) served requests: send this many bytes, then cut the connection. */
  dropAfterBytes?: number;
  dropTimes?: number;
  /** For the first `stallTimes` (default 1) served requests: send this many bytes, then nothing. */
  stallAfterBytes?: number;
  stallTimes?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /**
   * With a drop or stall fault: advertise `Accept-Ranges: bytes` and answer `Range: bytes=a-`
   * with 206 (a file body without a fault always honours Range).
   */
  acceptRanges?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Headers;
}

export interface ImageServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** Every request received, in order. */
  readonly received: readonly RecordedRequest[];
  /** Absolute URL of a path on this server. */
  url(path: string): string;
  /** Number of requests received for a path (any outcome). */
  requests(path: string): number;
  /** Adds or replaces what a path serves. */
  serve(path: string, file: ServedFile): void;
}

const CHUNK = 64 * 1024;

async function bodyBytes(body: ServedFile["body"]): Promise<Uint8Array> {
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  return await Deno.readFile(body.path);
}

/** A stream that sends `bytes` in chunks, then ends, ends early ("drop") or never ends ("stall"). */
function faultyStream(
  bytes: Uint8Array,
  fault: { kind: "none" | "drop" | "stall"; after: number },
  stalled: Set<ReadableStreamDefaultController<Uint8Array>>,
): ReadableStream<Uint8Array> {
  const limit = fault.kind === "none" ? bytes.length : Math.min(fault.after, bytes.length);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller): Promise<void> | void {
      if (sent < limit) {
        const end = Math.min(sent + CHUNK, limit);
        controller.enqueue(bytes.slice(sent, end));
        sent = end;
      } else if (fault.kind === "none" || fault.kind === "drop") {
        // A drop closes early: the body is shorter than content-length, so the client errors.
        controller.close();
      } else {
        // A stall never enqueues again; the server closes the stream when it shuts down.
        stalled.add(controller);
        return new Promise<void>(() => {});
      }
    },
  });
}

/**
 * Streams a file from disk like a production web server would (no whole-file read per request),
 * honouring a single `Range: bytes=a-b`, so benchmarks measure the agent and not this server.
 */
async function serveFile(
  path: string,
  req: Request,
  extra: Record<string, string> | undefined,
): Promise<Response> {
  const size = (await Deno.stat(path)).size;
  const headers = new Headers(extra);
  headers.set("content-type", "application/octet-stream");
  headers.set("accept-ranges", "bytes");
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
  const start = range ? Number(range[1]) : 0;
  const end = range && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
  headers.set("content-length", String(end - start + 1));
  if (range) headers.set("content-range", `bytes ${start}-${end}/${size}`);
  const status = range ? 206 : 200;
  if (req.method === "HEAD") return new Response(null, { status, headers });
  const file = await Deno.open(path, { read: true });
  await file.seek(start, Deno.SeekMode.Start);
  let left = end - start + 1;
  const body = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left <= 0) return;
        controller.enqueue(chunk.length <= left ? chunk : chunk.subarray(0, left));
        left -= chunk.length;
      },
    }),
  );
  return new Response(body, { status, headers });
}

/** The request handler as a plain value, so it can also be called without a port. */
export function createImageHandler(
  files: Map<string, ServedFile>,
  state: {
    counts: Map<string, number>;
    received: RecordedRequest[];
    stalled: Set<ReadableStreamDefaultController<Uint8Array>>;
  },
): (req: Request) => Promise<Response> {
  return async function handle(req) {
    const path = new URL(req.url).pathname;
    const count = (state.counts.get(path) ?? 0) + 1;
    state.counts.set(path, count);
    state.received.push({ method: req.method, path, headers: req.headers });
    const file = files.get(path);
    if (!file) return new Response("not found\n", { status: 404 });
    if (file.status !== undefined) {
      return new Response(`status ${file.status} on purpose\n`, { status: file.status });
    }
    const failTimes = file.failTimes ?? 0;
    if (count <= failTimes) return new Response("failing on purpose\n", { status: 500 });
    const served = count - failTimes;
    const plainFile = typeof file.body === "object" && "path" in file.body &&
      file.dropAfterBytes === undefined && file.stallAfterBytes === undefined;
    if (plainFile) return await serveFile((file.body as { path: string }).path, req, file.headers);
    const bytes = await bodyBytes(file.body);
    let fault: { kind: "none" | "drop" | "stall"; after: number } = { kind: "none", after: 0 };
    if (file.dropAfterBytes !== undefined && served <= (file.dropTimes ?? 1)) {
      fault = { kind: "drop", after: file.dropAfterBytes };
    } else if (file.stallAfterBytes !== undefined && served <= (file.stallTimes ?? 1)) {
      fault = { kind: "stall", after: file.stallAfterBytes };
    }
    const headers = new Headers(file.headers);
    headers.set("content-type", "application/octet-stream");
    const range = file.acceptRanges ? /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "") : null;
    const start = range ? Math.min(Number(range[1]), bytes.length) : 0;
    if (file.acceptRanges) headers.set("accept-ranges", "bytes");
    if (range) headers.set("content-range", `bytes ${start}-${bytes.length - 1}/${bytes.length}`);
    // An explicit length lets the client notice a body cut short.
    headers.set("content-length", String(bytes.length - start));
    const status = range ? 206 : 200;
    if (req.method === "HEAD") return new Response(null, { status, headers });
    const body = faultyStream(bytes.subarray(start), fault, state.stalled);
    return new Response(body, { status, headers });
  };
}

/** Starts the server; it is listening when this returns. Dispose it with `await using`. */
export function startImageServer(initial: Record<string, ServedFile> = {}): ImageServer {
  const files = new Map(Object.entries(initial));
  const state = {
    counts: new Map<string, number>(),
    received: [] as RecordedRequest[],
    stalled: new Set<ReadableStreamDefaultController<Uint8Array>>(),
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createImageHandler(files, state),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  return {
    origin,
    received: state.received,
    url(path) {
      return `${origin}${path}`;
    },
    requests(path) {
      return state.counts.get(path) ?? 0;
    },
    serve(path, file) {
      files.set(path, file);
    },
    async [Symbol.asyncDispose]() {
      for (const controller of state.stalled) {
        try {
          controller.close();
        } catch {
          // Already closed by the client going away.
        }
      }
      await server.shutdown();
    },
  };
}

// --- Test images -------------------------------------------------------------------------------

export interface TestImageOptions {
  /** Total size in bytes; need not be a multiple of 512. */
  sizeBytes: number;
  /** Partition table written by `parted` (two 512 KiB partitions), or none (random bytes). */
  table: "gpt" | "msdos" | "none";
  /** MBR disk signature to store at offset 440 (msdos only). */
  diskSignature?: number;
}

export interface TestImage extends AsyncDisposable {
  readonly path: string;
  readonly bytes: Uint8Array;
}

async function tool(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr);
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${stderr}`);
  }
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  // getRandomValues fills at most 64 KiB per call.
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, size)));
  }
  return bytes;
}

/**
 * A disk image in a temporary file: random content with a real GPT or MBR partition table on
 * top (two 512 KiB partitions from sector 2048).
 */
export async function buildTestImage(options: TestImageOptions): Promise<TestImage> {
  const dir = await Deno.makeTempDir({ prefix: "agent-image-" });
  const path = `${dir}/disk.img`;
  const bytes = randomBytes(options.sizeBytes);
  // No accidental MBR boot signature in a "none" image.
  bytes[510] = 0;
  bytes[511] = 0;
  await Deno.writeFile(path, bytes);
  try {
    if (options.table !== "none") {
      // parted rather than sgdisk: sgdisk sleeps a second after writing a file.
      await tool("parted", [
        "-s",
        path,
        "mklabel",
        options.table,
        "mkpart",
        "primary",
        "2048s",
        "3071s",
        "mkpart",
        "primary",
        "3072s",
        "4095s",
      ]);
      if (options.table === "msdos" && options.diskSignature !== undefined) {
        using file = await Deno.open(path, { write: true });
        await file.seek(440, Deno.SeekMode.Start);
        const signature = new Uint8Array(4);
        new DataView(signature.buffer).setUint32(0, options.diskSignature, true);
        await file.write(signature);
      }
    }
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  return {
    path,
    bytes: await Deno.readFile(path),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}
