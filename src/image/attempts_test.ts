import assert from "node:assert/strict";
import {
  ImageChecksumError,
  ImageDownloadError,
  ImageDownloadFatalError,
  ImageDownloadOutofSpaceError,
  ImageDownloadTimeoutError,
  ImageWriteError,
} from "../api/errors.ts";
import { Logger } from "../log.ts";
import { isRetryable, withAttempts } from "./attempts.ts";
import { UnusableChecksumError } from "./checksum.ts";

Deno.test("isRetryable() retries download and checksum errors only", () => {
  assert.ok(isRetryable(new ImageDownloadError("x")));
  assert.ok(isRetryable(new ImageChecksumError("x")));
  assert.ok(!isRetryable(new ImageDownloadFatalError("x")));
  assert.ok(!isRetryable(new ImageDownloadOutofSpaceError("x")));
  assert.ok(!isRetryable(new ImageDownloadTimeoutError("x")));
  assert.ok(!isRetryable(new UnusableChecksumError("x")));
  assert.ok(!isRetryable(new ImageWriteError("x")));
  assert.ok(!isRetryable(new Error("x")));
});

Deno.test("withAttempts() runs retries + 1 attempts, sleeping between them", async () => {
  const sleeps: number[] = [];
  const seen: number[] = [];
  const err = await withAttempts((n) => {
    seen.push(n);
    return Promise.reject(new ImageChecksumError(`attempt ${n}`));
  }, {
    retries: 2,
    retryIntervalMs: 10_000,
    log: new Logger(),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  }).then(() => null, (e) => e);
  assert.ok(err instanceof ImageChecksumError);
  assert.equal(err.details, "attempt 3");
  assert.deepEqual(seen, [1, 2, 3]);
  assert.deepEqual(sleeps, [10_000, 10_000]);
});

Deno.test("withAttempts() returns the first success and stops on a fatal error", async () => {
  const options = {
    retries: 5,
    retryIntervalMs: 0,
    log: new Logger(),
    sleep: () => Promise.resolve(),
  };
  assert.equal(
    await withAttempts(
      (n) => n < 3 ? Promise.reject(new ImageDownloadError("x")) : Promise.resolve(n),
      options,
    ),
    3,
  );
  let calls = 0;
  await assert.rejects(
    withAttempts(() => {
      calls++;
      return Promise.reject(new ImageDownloadFatalError("404"));
    }, options),
    ImageDownloadFatalError,
  );
  assert.equal(calls, 1);
});
