import assert from "node:assert/strict";
import {
  ImageDownloadError,
  ImageDownloadFatalError,
  ImageDownloadTimeoutError,
} from "../api/errors.ts";
import { Logger } from "../log.ts";
import { concat } from "../system/bytes.ts";
import { startImageServer } from "../../tests/harness/image_server.ts";
import {
  type DownloadOptions,
  fetchText,
  type ImageResponse,
  openImage,
  stallWatchdog,
} from "./download.ts";
import { createImageHttp } from "./http_client.ts";
import { validateImageInfo } from "./image_info.ts";

const log = new Logger({ test: "download" });

function options(overrides: Partial<DownloadOptions> = {}): DownloadOptions & { imageId: string } {
  return {
    connectionTimeoutMs: 5_000,
    retries: 2,
    retryIntervalMs: 7,
    log,
    sleep: () => Promise.resolve(),
    imageId: "img",
    ...overrides,
  };
}

function http() {
  return createImageHttp(
    validateImageInfo({ id: "img", urls: ["http://x/img"], checksum: "a".repeat(64) }, {
      md5Enabled: true,
    }),
  );
}

async function readAll(image: ImageResponse): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  // Chunks share one buffer: keep copies.
  for await (const chunk of image.chunks()) parts.push(chunk.slice());
  return concat(parts);
}

async function rejection<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  const err = await promise.then(() => null, (e) => e);
  assert.ok(err instanceof type, `expected ${type.name}, got ${err}`);
  return err;
}

/** A URL on which nothing listens: connection refused. */
async function closedPortUrl(): Promise<string> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await Promise.resolve();
  return `http://127.0.0.1:${port}/img`;
}

Deno.test("openImage() streams the body and reports its length", async () => {
  const body = new Uint8Array(300_000).map((_, i) => i % 251);
  await using server = startImageServer({ "/img": { body } });
  using client = http();
  await using image = await openImage(client, [server.url("/img")], options());
  assert.equal(image.total, body.length);
  assert.deepEqual(await readAll(image), body);
});

Deno.test("openImage() retries HTTP 500 with the retry interval, per URL", async () => {
  await using server = startImageServer({ "/img": { body: "ok", failTimes: 2 } });
  using client = http();
  const sleeps: number[] = [];
  await using image = await openImage(
    client,
    [server.url("/img")],
    options({
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    }),
  );
  assert.equal(new TextDecoder().decode(await readAll(image)), "ok");
  assert.deepEqual(sleeps, [7, 7]);
  assert.equal(server.requests("/img"), 3);
});

Deno.test("openImage() gives up on a URL after retries and lists every URL", async () => {
  await using server = startImageServer({ "/a": { body: "", failTimes: 99 } });
  const refused = await closedPortUrl();
  using client = http();
  const err = await rejection(
    openImage(client, [server.url("/a"), refused], options({ retries: 1 })),
    ImageDownloadError,
  );
  assert.ok(!(err instanceof ImageDownloadFatalError));
  const lines = err.details.split("\n");
  assert.equal(lines.length, 2);
  assert.match(
    lines[0] ?? "",
    /^Download of image img failed: URL: http:\/\/127\.0\.0\.1:\d+\/a; time: [\d.]+ seconds\. Error: Received status code 500/,
  );
  assert.match(lines[1] ?? "", /URL: http:\/\/127\.0\.0\.1:\d+\/img; .*Unable to connect/);
  assert.equal(server.requests("/a"), 2);
});

Deno.test("openImage() treats 4xx as fatal: no retry, no next URL", async (t) => {
  for (const status of [401, 403, 404]) {
    await t.step(`HTTP ${status}`, async () => {
      await using server = startImageServer({
        "/bad": { body: "", status },
        "/good": { body: "never" },
      });
      using client = http();
      const err = await rejection(
        openImage(client, [server.url("/bad"), server.url("/good")], options()),
        ImageDownloadFatalError,
      );
      assert.match(err.details, new RegExp(`Received status code ${status} from .*/bad`));
      assert.equal(server.requests("/bad"), 1);
      assert.equal(server.requests("/good"), 0);
    });
  }
});

Deno.test("openImage() chunks() fails with ImageDownloadError on a stalled body", async () => {
  await using server = startImageServer({
    "/img": { body: new Uint8Array(500_000), stallAfterBytes: 100_000 },
  });
  using client = http();
  await using image = await openImage(
    client,
    [server.url("/img")],
    options({ connectionTimeoutMs: 200 }),
  );
  const err = await rejection(readAll(image), ImageDownloadError);
  assert.match(err.details, /Timed out reading next chunk from .*: no data for 0.2 seconds/);
});

Deno.test("openImage() chunks() fails with ImageDownloadError on a dropped connection", async () => {
  await using server = startImageServer({
    "/img": { body: new Uint8Array(500_000), dropAfterBytes: 100_000 },
  });
  using client = http();
  await using image = await openImage(client, [server.url("/img")], options());
  const err = await rejection(readAll(image), ImageDownloadError);
  assert.match(err.details, /error reading from/);
});

Deno.test("openImage() chunks() stops at the overall deadline", async () => {
  await using server = startImageServer({ "/img": { body: new Uint8Array(10) } });
  using client = http();
  let clock = 1_000;
  await using image = await openImage(
    client,
    [server.url("/img")],
    options({
      now: () => clock,
      deadline: 1_500,
      maxDurationSeconds: 0.5,
    }),
  );
  clock = 2_000;
  const err = await rejection(readAll(image), ImageDownloadTimeoutError);
  assert.equal(err.code, 408);
  assert.match(err.details, /exceeded the maximum duration of 0.5 seconds/);
});

Deno.test("fetchText() returns a checksum file and names the URL when it fails", async () => {
  await using server = startImageServer({
    "/SUMS": { body: "abc  img\n", failTimes: 1 },
    "/missing": { body: "", status: 404 },
  });
  using client = http();
  assert.equal(await fetchText(client, server.url("/SUMS"), options()), "abc  img\n");
  const err = await rejection(
    fetchText(client, server.url("/missing"), options()),
    ImageDownloadFatalError,
  );
  assert.match(
    err.details,
    /^Download of image http:\/\/127.0.0.1:\d+\/missing failed: Received status code 404/,
  );
});

function randomBody(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, size)));
  }
  return bytes;
}

Deno.test("openImage() chunks() resumes with Range after dropped connections", async () => {
  const body = randomBody(500_000);
  await using server = startImageServer({
    "/img": { body, dropAfterBytes: 100_000, dropTimes: 2, acceptRanges: true },
  });
  using client = http();
  await using image = await openImage(client, [server.url("/img")], options());
  assert.deepEqual(await readAll(image), body);
  const ranges = server.received.map((r) => r.headers.get("range"));
  // The second request resumes at 100 000 and drops 100 000 bytes later; the third finishes.
  assert.deepEqual(ranges, [null, "bytes=100000-", "bytes=200000-"]);
});

Deno.test("openImage() chunks() gives up resuming after `retries` resumes", async () => {
  await using server = startImageServer({
    "/img": { body: randomBody(500_000), dropAfterBytes: 50_000, dropTimes: 9, acceptRanges: true },
  });
  using client = http();
  await using image = await openImage(client, [server.url("/img")], options({ retries: 2 }));
  await rejection(readAll(image), ImageDownloadError);
  assert.equal(server.requests("/img"), 3);
});

Deno.test("openImage() chunks() does not splice a Range answer that is not a 206 at the offset", async (t) => {
  const body = randomBody(4096);
  /** First answer: advertises ranges, sends 1000 bytes, then errors. */
  function broken(): Response {
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(body.slice(0, 1000));
        } else controller.error(new Error("connection reset"));
      },
    });
    return new Response(stream, {
      headers: { "accept-ranges": "bytes", "content-length": "4096", etag: '"v1"' },
    });
  }
  const cases: [string, () => Response][] = [
    ["200 (Range ignored or If-Range failed)", () => new Response(body)],
    ["206 at the wrong offset", () =>
      new Response(body.slice(0), {
        status: 206,
        headers: { "content-range": "bytes 0-4095/4096" },
      })],
    ["206 of a different total", () =>
      new Response(body.slice(1000), {
        status: 206,
        headers: { "content-range": "bytes 1000-4999/5000" },
      })],
  ];
  for (const [name, second] of cases) {
    await t.step(name, async () => {
      const sent: Headers[] = [];
      const fake = {
        fetch(_url: string, init: { headers?: Record<string, string> }) {
          sent.push(new Headers(init.headers));
          return Promise.resolve(sent.length === 1 ? broken() : second());
        },
        [Symbol.dispose]() {},
      };
      await using image = await openImage(fake, ["http://x/img"], options());
      const err = await rejection(readAll(image), ImageDownloadError);
      assert.match(err.details, /connection reset/);
      assert.equal(sent[1]?.get("range"), "bytes=1000-");
      assert.equal(sent[1]?.get("if-range"), '"v1"');
    });
  }
});

Deno.test("stallWatchdog() counts only the time a read waits, not the time between reads", async () => {
  let clock = 0;
  let stalls = 0;
  const watchdog = stallWatchdog(20, () => stalls++, () => clock);
  const tick = () => new Promise((r) => setTimeout(r, 30));
  try {
    // Long pauses between quick reads: the caller was busy, the download was not stalled.
    for (let i = 0; i < 3; i++) {
      watchdog.start();
      watchdog.stop();
      clock += 1000;
      await tick();
    }
    assert.equal(stalls, 0);
    // A read that waits 25 of the allowed 20 (clock) ms stalls, once the timer next checks.
    watchdog.start();
    clock += 25;
    for (let i = 0; i < 20 && stalls === 0; i++) await tick();
    assert.equal(stalls, 1);
    assert.equal(watchdog.stalled, true);
  } finally {
    watchdog.dispose();
  }
});
