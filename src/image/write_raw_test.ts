import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ImageChecksumError,
  ImageDownloadError,
  ImageDownloadFatalError,
  ImageWriteError,
} from "../api/errors.ts";
import { Logger } from "../log.ts";
import { systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice, readBacking } from "../../tests/harness/loop.ts";
import { buildTestImage, startImageServer } from "../../tests/harness/image_server.ts";
import { validateImageInfo } from "./image_info.ts";
import type { Progress } from "./progress.ts";
import { type ImageDownloadSettings, streamImageToDevice } from "./write_raw.ts";

const log = new Logger({ test: "write_raw" });

/** The error `fn` rejects with, which must be a `type`. */
async function rejection<E extends Error>(
  fn: () => Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err}`);
    return err;
  }
  assert.fail(`expected ${type.name}, but it resolved`);
}

/** An odd size: one whole 4 MiB dd block (`bs=4M`), then a short one not a multiple of 512. */
const IMAGE_SIZE = 4 * 1024 * 1024 + 12345;

function settings(overrides: Partial<ImageDownloadSettings> = {}): ImageDownloadSettings {
  return {
    connectionTimeoutMs: 5_000,
    retries: 2,
    retryIntervalMs: 0,
    md5Enabled: true,
    sleep: () => Promise.resolve(),
    ...overrides,
  };
}

function hex(algorithm: string, bytes: Uint8Array): string {
  return createHash(algorithm).update(bytes).digest("hex");
}

async function assertDeviceHolds(disk: LoopDevice, image: Uint8Array): Promise<void> {
  const onDisk = await readBacking(disk, 0, image.length);
  assert.deepEqual(onDisk.length, image.length);
  assert.ok(onDisk.every((byte, i) => byte === image[i]), "device content differs from the image");
}

/** Fills the device with a marker so a write that did nothing cannot pass. */
/** Streams the image `fields` describe (validated as the agent does) onto `disk`. */
function writeImage(
  disk: LoopDevice,
  fields: Record<string, unknown>,
  options: ImageDownloadSettings = settings(),
  onProgress?: (progress: Progress) => void,
) {
  return streamImageToDevice({
    imageInfo: validateImageInfo(fields, { md5Enabled: true }),
    device: disk.path,
    runner: systemRunner,
    log,
    options,
    onProgress,
  });
}

async function dirty(disk: LoopDevice): Promise<void> {
  await Deno.writeFile(disk.file, new Uint8Array(disk.sizeBytes).fill(0xa5));
}

Deno.test("streamImageToDevice() writes a GPT image verified with os_hash sha256", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({ "/disk.img": { body: image.bytes } });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await dirty(disk);
  const progress: Progress[] = [];
  const digest = hex("sha256", image.bytes);
  const result = await writeImage(
    disk,
    {
      id: "disk.img",
      urls: [server.url("/disk.img")],
      os_hash_algo: "sha256",
      os_hash_value: digest.toUpperCase(),
    },
    settings(),
    (p) => progress.push(p),
  );
  assert.deepEqual(result.bytesWritten, IMAGE_SIZE);
  assert.deepEqual(result.algorithm, "sha256");
  assert.deepEqual(result.digest, digest);
  assert.deepEqual(result.attempts, 1);
  await assertDeviceHolds(disk, image.bytes);
  const last = progress.at(-1);
  assert.deepEqual(last?.downloaded, IMAGE_SIZE);
  assert.deepEqual(last?.written, IMAGE_SIZE);
  assert.deepEqual(last?.total, IMAGE_SIZE);
});

Deno.test("streamImageToDevice() checks sha512, md5 and checksum-file digests", async (t) => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "msdos" });
  await using server = startImageServer({
    "/images/disk.img": { body: image.bytes },
    "/images/SHA256SUMS": {
      body: `# checksums\n${"0".repeat(64)}  other.img\n${hex("sha256", image.bytes)} *disk.img\n`,
    },
  });
  const cases: { name: string; fields: Record<string, string>; algorithm: string }[] = [
    {
      name: "sha512 by length",
      fields: { checksum: hex("sha512", image.bytes) },
      algorithm: "sha512",
    },
    { name: "md5 by length", fields: { checksum: hex("md5", image.bytes) }, algorithm: "md5" },
    {
      name: "os_hash_algo md5",
      fields: { os_hash_algo: "md5", os_hash_value: hex("md5", image.bytes) },
      algorithm: "md5",
    },
    {
      name: "checksum file URL",
      fields: { checksum: server.url("/images/SHA256SUMS") },
      algorithm: "sha256",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using disk = await createLoopDevice({ sizeMiB: 8 });
      await dirty(disk);
      const result = await writeImage(disk, {
        id: "disk.img",
        urls: [server.url("/images/disk.img")],
        ...c.fields,
      });
      assert.deepEqual(result.algorithm, c.algorithm);
      await assertDeviceHolds(disk, image.bytes);
    });
  }
});

Deno.test("streamImageToDevice() fails with ImageChecksumError on a mismatch, after retrying", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({ "/disk.img": { body: image.bytes } });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  const wrong = "ab".repeat(32);
  const err = await rejection(
    () =>
      writeImage(disk, {
        id: "disk.img",
        urls: [server.url("/disk.img")],
        os_hash_algo: "sha256",
        os_hash_value: wrong,
      }, settings({ retries: 1 })),
    ImageChecksumError,
  );
  assert.ok(err.details.includes(`image checksum: ${wrong}`), err.details);
  assert.ok(
    err.details.includes(`verification checksum: ${hex("sha256", image.bytes)}`),
    err.details,
  );
  assert.deepEqual(server.requests("/disk.img"), 2); // the outer loop tried twice
});

Deno.test("streamImageToDevice() stops at once on HTTP 404, trying no other URL", async () => {
  await using server = startImageServer({
    "/missing.img": { body: "", status: 404 },
    "/disk.img": { body: "never served" },
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  const err = await rejection(
    () =>
      writeImage(disk, {
        id: "disk.img",
        urls: [server.url("/missing.img"), server.url("/disk.img")],
        checksum: "ab".repeat(32),
      }, settings({ retries: 3 })),
    ImageDownloadFatalError,
  );
  assert.ok(err.details.includes("Received status code 404"), err.details);
  assert.deepEqual(server.requests("/missing.img"), 1);
  assert.deepEqual(server.requests("/disk.img"), 0);
});

Deno.test("streamImageToDevice() retries HTTP 500 and succeeds", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({ "/disk.img": { body: image.bytes, failTimes: 2 } });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  const sleeps: number[] = [];
  const result = await writeImage(
    disk,
    {
      id: "disk.img",
      urls: [server.url("/disk.img")],
      checksum: hex("sha256", image.bytes),
    },
    settings({
      retries: 2,
      retryIntervalMs: 10_000,
      sleep: (ms) => {
        sleeps.push(ms);
        return Promise.resolve();
      },
    }),
  );
  assert.deepEqual(result.attempts, 1);
  assert.deepEqual(server.requests("/disk.img"), 3);
  assert.deepEqual(sleeps, [10_000, 10_000]);
  await assertDeviceHolds(disk, image.bytes);
});

Deno.test("streamImageToDevice() moves to the next URL when one keeps failing", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({
    "/broken.img": { body: image.bytes, failTimes: 100 },
    "/disk.img": { body: image.bytes },
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  const result = await writeImage(disk, {
    id: "disk.img",
    urls: [server.url("/broken.img"), server.url("/disk.img")],
    checksum: hex("sha256", image.bytes),
  }, settings({ retries: 1 }));
  assert.deepEqual(result.url, server.url("/disk.img"));
  assert.deepEqual(server.requests("/broken.img"), 2);
  await assertDeviceHolds(disk, image.bytes);
});

Deno.test("streamImageToDevice() fails with ImageDownloadError when every URL fails", async () => {
  await using server = startImageServer({
    "/a.img": { body: "x", failTimes: 100 },
    "/b.img": { body: "x", failTimes: 100 },
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  const err = await rejection(
    () =>
      writeImage(disk, {
        id: "disk.img",
        urls: [server.url("/a.img"), server.url("/b.img")],
        checksum: "ab".repeat(32),
      }, settings({ retries: 1 })),
    ImageDownloadError,
  );
  assert.ok(!(err instanceof ImageDownloadFatalError));
  assert.ok(err.details.includes(`URL: ${server.url("/a.img")}`), err.details);
  assert.ok(err.details.includes(`URL: ${server.url("/b.img")}`), err.details);
  // 2 tries per URL per attempt, 2 outer attempts.
  assert.deepEqual(server.requests("/a.img"), 4);
  assert.deepEqual(server.requests("/b.img"), 4);
});

Deno.test("streamImageToDevice() resumes a dropped download with Range, checksum over every byte", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({
    "/disk.img": { body: image.bytes, dropAfterBytes: 2 * 1024 * 1024 + 100, acceptRanges: true },
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await dirty(disk);
  const result = await writeImage(disk, {
    id: "disk.img",
    urls: [server.url("/disk.img")],
    checksum: hex("sha512", image.bytes),
  });
  assert.equal(result.attempts, 1, "one attempt: the write continued, not restarted");
  assert.equal(result.bytesWritten, image.bytes.length);
  assert.equal(result.digest, hex("sha512", image.bytes));
  assert.deepEqual(
    server.received.map((r) => r.headers.get("range")),
    [null, `bytes=${2 * 1024 * 1024 + 100}-`],
  );
  await assertDeviceHolds(disk, image.bytes);
});

// A server without Range support (no Accept-Ranges): restart from zero, as IPA does.
Deno.test("streamImageToDevice() restarts from the beginning after a dropped connection", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({
    "/disk.img": { body: image.bytes, dropAfterBytes: 2 * 1024 * 1024 + 100 },
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  await dirty(disk);
  const result = await writeImage(disk, {
    id: "disk.img",
    urls: [server.url("/disk.img")],
    checksum: hex("sha512", image.bytes),
  });
  assert.deepEqual(result.attempts, 2);
  await assertDeviceHolds(disk, image.bytes);
});

Deno.test("streamImageToDevice() aborts a stalled read after the connection timeout", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({
    "/disk.img": { body: image.bytes, stallAfterBytes: 1024 * 1024, stallTimes: 1 },
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  const started = performance.now();
  const result = await writeImage(disk, {
    id: "disk.img",
    urls: [server.url("/disk.img")],
    checksum: hex("sha256", image.bytes),
  }, settings({ connectionTimeoutMs: 300 }));
  assert.deepEqual(result.attempts, 2);
  assert.ok(performance.now() - started < 5_000);
  await assertDeviceHolds(disk, image.bytes);
});

Deno.test("streamImageToDevice() reports dd's error as ImageWriteError when the device is too small", async () => {
  await using image = await buildTestImage({ sizeBytes: 5 * 1024 * 1024, table: "none" });
  await using server = startImageServer({ "/disk.img": { body: image.bytes } });
  await using disk = await createLoopDevice({ sizeMiB: 4 });
  const err = await rejection(
    () =>
      writeImage(disk, {
        id: "disk.img",
        urls: [server.url("/disk.img")],
        checksum: hex("sha256", image.bytes),
      }),
    ImageWriteError,
  );
  assert.ok(err.details.includes(`Writing image to device ${disk.path} failed`), err.details);
  assert.ok(err.details.includes("No space left on device"), err.details);
  assert.deepEqual(server.requests("/disk.img"), 1); // write errors are not retried
});

Deno.test("streamImageToDevice() stops when its signal aborts", async () => {
  await using image = await buildTestImage({ sizeBytes: IMAGE_SIZE, table: "gpt" });
  await using server = startImageServer({
    "/disk.img": { body: image.bytes, stallAfterBytes: 1024 * 1024 },
  });
  await using disk = await createLoopDevice({ sizeMiB: 8 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("agent shutting down")), 200);
  const err = await rejection(
    () =>
      streamImageToDevice({
        imageInfo: validateImageInfo({
          id: "disk.img",
          urls: [server.url("/disk.img")],
          checksum: hex("sha256", image.bytes),
        }, { md5Enabled: true }),
        device: disk.path,
        runner: systemRunner,
        log,
        options: settings({ connectionTimeoutMs: 60_000 }),
        signal: controller.signal,
      }),
    Error,
  );
  assert.equal(err.message, "agent shutting down");
});
