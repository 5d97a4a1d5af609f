import assert from "node:assert/strict";
import { ImageChecksumError, ImageDownloadError } from "../api/errors.ts";
import { Logger } from "../log.ts";
import {
  algorithmByLength,
  createHasher,
  digestsMatch,
  knownAlgorithm,
  resolveChecksum,
  UnusableChecksumError,
} from "./checksum.ts";
import { type ImageInfo, validateImageInfo } from "./image_info.ts";

const MD5 = "5d41402abc4b2a76b9719d911017c592";
const SHA1 = "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d";
const SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const SHA384 = "a".repeat(96);
const SHA512 = "b".repeat(128);
const log = new Logger({ test: "checksum" });

function info(fields: Record<string, unknown>): ImageInfo {
  return validateImageInfo(
    { id: "img", urls: ["http://images/path/disk.img"], ...fields },
    { md5Enabled: true },
  );
}

/** A fetch that serves fixed texts and records the URLs asked for. */
function fakeFetch(files: Record<string, string>) {
  const asked: string[] = [];
  return {
    asked,
    fetchText(url: string): Promise<string> {
      asked.push(url);
      const text = files[url];
      return text === undefined
        ? Promise.reject(new ImageDownloadError(`no ${url}`))
        : Promise.resolve(text);
    },
  };
}

Deno.test("resolveChecksum() picks algorithm and expected value (spec 08 §5.1)", async (t) => {
  const files = {
    "http://sums/SHA256SUMS": `${SHA256}  disk.img\n`,
    "http://sums/SHA512SUMS": `${SHA512} *disk.img\n`,
    "http://sums/bare": `${SHA384}\n`,
    "http://sums/md5": `${MD5}\n`,
  };
  const cases: {
    name: string;
    fields: Record<string, unknown>;
    algorithm: string;
    value: string;
    source: string;
    md5Enabled?: boolean;
  }[] = [
    {
      name: "os_hash pair wins over checksum",
      fields: { os_hash_algo: "sha512", os_hash_value: SHA512, checksum: MD5 },
      algorithm: "sha512",
      value: SHA512,
      source: "os_hash_value",
    },
    {
      name: "os_hash_algo is case-insensitive",
      fields: { os_hash_algo: "SHA256", os_hash_value: SHA256.toUpperCase() },
      algorithm: "sha256",
      value: SHA256,
      source: "os_hash_value",
    },
    {
      name: "os_hash md5 even with md5 disabled (the conductor chose it)",
      fields: { os_hash_algo: "md5", os_hash_value: MD5 },
      algorithm: "md5",
      value: MD5,
      source: "os_hash_value",
      md5Enabled: false,
    },
    {
      name: "os_hash sha1",
      fields: { os_hash_algo: "sha1", os_hash_value: SHA1 },
      algorithm: "sha1",
      value: SHA1,
      source: "os_hash_value",
    },
    {
      name: "os_hash sha384",
      fields: { os_hash_algo: "sha384", os_hash_value: SHA384 },
      algorithm: "sha384",
      value: SHA384,
      source: "os_hash_value",
    },
    {
      name: "os_hash_value given as a URL is fetched",
      fields: { os_hash_algo: "sha256", os_hash_value: "http://sums/SHA256SUMS" },
      algorithm: "sha256",
      value: SHA256,
      source: "http://sums/SHA256SUMS",
    },
    {
      name: "unknown os_hash_algo falls back to checksum by length",
      fields: { os_hash_algo: "whirlpool", os_hash_value: "x", checksum: SHA512 },
      algorithm: "sha512",
      value: SHA512,
      source: "checksum",
    },
    {
      name: "checksum of 64 characters is sha256",
      fields: { checksum: SHA256 },
      algorithm: "sha256",
      value: SHA256,
      source: "checksum",
    },
    {
      name: "checksum of 128 characters is sha512",
      fields: { checksum: SHA512 },
      algorithm: "sha512",
      value: SHA512,
      source: "checksum",
    },
    {
      name: "checksum of 32 characters is md5",
      fields: { checksum: MD5 },
      algorithm: "md5",
      value: MD5,
      source: "checksum",
    },
    {
      name: "checksum URL, GNU file, by length",
      fields: { checksum: "http://sums/SHA512SUMS" },
      algorithm: "sha512",
      value: SHA512,
      source: "http://sums/SHA512SUMS",
    },
    {
      name: "checksum URL with an unknown os_hash_algo, by length",
      fields: { checksum: "http://sums/SHA256SUMS", os_hash_algo: "nope", os_hash_value: "x" },
      algorithm: "sha256",
      value: SHA256,
      source: "http://sums/SHA256SUMS",
    },
    {
      name: "checksum URL with md5 content",
      fields: { checksum: "http://sums/md5" },
      algorithm: "md5",
      value: MD5,
      source: "http://sums/md5",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const fetch = fakeFetch(files);
      const result = await resolveChecksum(info(c.fields), {
        md5Enabled: c.md5Enabled ?? true,
        log,
        fetchText: fetch.fetchText,
      });
      assert.deepEqual(result, { algorithm: c.algorithm, value: c.value, source: c.source });
    });
  }
});

Deno.test("resolveChecksum() refuses checksums it cannot use", async (t) => {
  const cases: { name: string; fields: Record<string, unknown>; message: RegExp }[] = [
    {
      name: "md5 from a checksum file with md5 disabled",
      fields: { checksum: "http://sums/md5" },
      message: /MD5 support is disabled/,
    },
    {
      name: "a sha1-length checksum",
      fields: { checksum: SHA1 },
      message: /Unable to determine the checksum algorithm .* this one has 40/,
    },
    {
      name: "an unknown algorithm and no checksum",
      fields: { os_hash_algo: "whirlpool", os_hash_value: SHA256 },
      message: /Unable to verify image img with available checksums.*currently whirlpool/,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const fetch = fakeFetch({ "http://sums/md5": MD5 });
      const err = await resolveChecksum(info(c.fields), {
        md5Enabled: false,
        log,
        fetchText: fetch.fetchText,
      }).then(() => null, (e) => e);
      assert.ok(err instanceof UnusableChecksumError, `unexpected ${err}`);
      assert.ok(err instanceof ImageChecksumError);
      assert.match(err.details, c.message);
    });
  }
});

Deno.test("resolveChecksum() passes checksum-file errors through", async () => {
  const fetch = fakeFetch({ "http://sums/SUMS": `${SHA256}  other.img\n` });
  const err = await resolveChecksum(info({ checksum: "http://sums/SUMS" }), {
    md5Enabled: true,
    log,
    fetchText: fetch.fetchText,
  }).then(() => null, (e) => e);
  assert.ok(err instanceof ImageDownloadError);
  assert.match(err.details, /Checksum file does not contain name disk.img/);
  assert.deepEqual(fetch.asked, ["http://sums/SUMS"]);
});

Deno.test("algorithmByLength() maps digest lengths", () => {
  assert.equal(algorithmByLength(SHA512, { md5Enabled: false }), "sha512");
  assert.equal(algorithmByLength(SHA256, { md5Enabled: false }), "sha256");
  assert.equal(algorithmByLength(MD5, { md5Enabled: true }), "md5");
  assert.throws(() => algorithmByLength(MD5, { md5Enabled: false }), UnusableChecksumError);
  assert.throws(() => algorithmByLength(SHA384, { md5Enabled: true }), UnusableChecksumError);
});

Deno.test("knownAlgorithm() accepts hashlib names and rejects others", () => {
  assert.equal(knownAlgorithm("sha512"), "sha512");
  assert.equal(knownAlgorithm("SHA-256"), "sha256");
  assert.equal(knownAlgorithm("sha3_256"), "sha3_256");
  assert.equal(knownAlgorithm("blake2b"), "blake2b");
  assert.equal(knownAlgorithm("whirlpool"), null);
  assert.equal(knownAlgorithm("__proto__"), null);
  assert.equal(knownAlgorithm(null), null);
});

Deno.test("createHasher() computes the known digests of 'hello'", async (t) => {
  const expected: Record<string, string> = {
    md5: MD5,
    sha1: SHA1,
    sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    sha3_256: "3338be694f50c5f338814986cdf0686453a888b84f424d792af4b9202398f392",
  };
  for (const [name, digest] of Object.entries(expected)) {
    await t.step(name, async () => {
      const algorithm = knownAlgorithm(name);
      assert.ok(algorithm);
      assert.equal((await createHasher(algorithm)).update("hello").digest("hex"), digest);
    });
  }
});

Deno.test("digestsMatch() ignores case and surrounding space", () => {
  assert.ok(digestsMatch(SHA256.toUpperCase(), ` ${SHA256}\n`));
  assert.ok(!digestsMatch(SHA256, SHA512));
});
