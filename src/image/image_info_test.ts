import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { CHECKSUM_UNAVAILABLE_MESSAGE, sanitizeImageId, validateImageInfo } from "./image_info.ts";

const SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const MD5 = "5d41402abc4b2a76b9719d911017c592";

function valid(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
    urls: ["https://10.0.0.2:8080/agent_images/1be26c0b"],
    disk_format: "raw",
    container_format: "bare",
    stream_raw_images: true,
    checksum: SHA256,
    node_uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123",
    ...overrides,
  };
}

function details(raw: unknown, md5Enabled = true): string {
  try {
    validateImageInfo(raw, { md5Enabled });
  } catch (err) {
    assert.ok(err instanceof InvalidCommandParamsError, `unexpected ${err}`);
    assert.equal(err.code, 400);
    return err.details;
  }
  assert.fail("validateImageInfo() accepted invalid image_info");
}

Deno.test("validateImageInfo() accepts the conductor's whole-disk example and keeps unknown keys", () => {
  const info = validateImageInfo(
    valid({
      checksum: "https://images.example.com/SHA256SUMS",
      os_hash_algo: "sha256",
      os_hash_value: SHA256,
      disk_format: "qcow2",
      proxies: { http: "http://proxy:3128" },
      no_proxy: "10.0.0.2",
      future_field: { x: 1 },
    }),
    { md5Enabled: true },
  );
  assert.equal(info.id, "1be26c0b-03f2-4d2e-ae87-c02d7f33c123");
  assert.deepEqual(info.proxies, { http: "http://proxy:3128" });
  assert.deepEqual(info.future_field, { x: 1 });
});

Deno.test("validateImageInfo() accepts partition-image fields and null formats", () => {
  const info = validateImageInfo(
    valid({
      disk_format: null,
      container_format: null,
      image_type: "partition",
      root_mb: 10240,
      root_gb: "10",
      swap_mb: 0,
      ephemeral_mb: 0,
      ephemeral_format: null,
      preserve_ephemeral: false,
      deploy_boot_mode: "uefi",
      configdrive: null,
    }),
    { md5Enabled: true },
  );
  assert.equal(info.image_type, "partition");
  assert.equal(info.root_mb, 10240);
  assert.equal(info.disk_format, null);
});

Deno.test("validateImageInfo() names the field and the value it got", async (t) => {
  const cases: { name: string; raw: unknown; expected: string }[] = [
    { name: "not an object", raw: ["x"], expected: 'image_info must be an object, got ["x"]' },
    {
      name: "missing id",
      raw: valid({ id: undefined }),
      expected: "image_info.id must be a non-empty string, got nothing",
    },
    {
      name: "empty id",
      raw: valid({ id: "" }),
      expected: 'image_info.id must be a non-empty string, got ""',
    },
    {
      name: "missing urls",
      raw: valid({ urls: undefined }),
      expected: "image_info.urls must be a non-empty list of URLs, got nothing",
    },
    {
      name: "empty urls",
      raw: valid({ urls: [] }),
      expected: "image_info.urls must be a non-empty list of URLs, got []",
    },
    {
      name: "urls as a string",
      raw: valid({ urls: "http://x/img" }),
      expected: 'image_info.urls must be a non-empty list of URLs, got "http://x/img"',
    },
    {
      name: "url with another scheme",
      raw: valid({ urls: ["http://ok/img", "ftp://host/img"] }),
      expected: 'image_info.urls[1] must be an http:// or https:// URL, got "ftp://host/img"',
    },
    {
      name: "empty checksum",
      raw: valid({ checksum: "" }),
      expected: 'image_info.checksum must be a non-empty string, got ""',
    },
    {
      name: "checksum as a number",
      raw: valid({ checksum: 12 }),
      expected: "image_info.checksum must be a non-empty string, got 12",
    },
    {
      name: "os_hash_algo without a value",
      raw: valid({ os_hash_algo: "sha512" }),
      expected:
        "image_info.os_hash_value must be a non-empty string when image_info.os_hash_algo is set, got nothing",
    },
    {
      name: "os_hash_value without an algorithm",
      raw: valid({ os_hash_value: SHA256 }),
      expected:
        "image_info.os_hash_algo must be a non-empty string when image_info.os_hash_value is set, got nothing",
    },
    {
      name: "empty os_hash_algo",
      raw: valid({ os_hash_algo: "", os_hash_value: SHA256 }),
      expected: 'image_info.os_hash_algo must be a non-empty string, got ""',
    },
    {
      name: "stream_raw_images as a string",
      raw: valid({ stream_raw_images: "yes" }),
      expected: 'image_info.stream_raw_images must be a boolean, got "yes"',
    },
    {
      name: "proxies as a list",
      raw: valid({ proxies: ["http://proxy"] }),
      expected:
        'image_info.proxies must be an object such as {"http": "<proxy URL>", "https": "<proxy URL>"}, got ["http://proxy"]',
    },
    {
      name: "a password is never shown",
      raw: valid({ image_server_password: 12345678 }),
      expected:
        "image_info.image_server_password must be a string or null, got a value (not shown)",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.equal(details(c.raw), c.expected));
  }
});

Deno.test("validateImageInfo() requires a usable checksum", async (t) => {
  const usable: { name: string; fields: Record<string, unknown>; md5Enabled: boolean }[] = [
    { name: "sha256 checksum", fields: { checksum: SHA256 }, md5Enabled: false },
    { name: "checksum URL", fields: { checksum: "http://x/SUMS" }, md5Enabled: false },
    { name: "md5 with md5 enabled", fields: { checksum: MD5 }, md5Enabled: true },
    {
      name: "os_hash pair",
      fields: { checksum: undefined, os_hash_algo: "sha512", os_hash_value: "abc" },
      md5Enabled: false,
    },
    {
      name: "os_hash pair with a null checksum",
      fields: { checksum: null, os_hash_algo: "md5", os_hash_value: MD5 },
      md5Enabled: false,
    },
  ];
  for (const c of usable) {
    await t.step(`accepts ${c.name}`, () => {
      validateImageInfo(valid(c.fields), { md5Enabled: c.md5Enabled });
    });
  }
  const unusable: { name: string; fields: Record<string, unknown>; md5Enabled: boolean }[] = [
    { name: "no checksum at all", fields: { checksum: undefined }, md5Enabled: true },
    { name: "null checksum", fields: { checksum: null }, md5Enabled: true },
    { name: "md5 with md5 disabled", fields: { checksum: MD5 }, md5Enabled: false },
    { name: "short checksum", fields: { checksum: "abc" }, md5Enabled: true },
  ];
  for (const c of unusable) {
    await t.step(`refuses ${c.name}`, () => {
      assert.equal(details(valid(c.fields), c.md5Enabled), CHECKSUM_UNAVAILABLE_MESSAGE);
    });
  }
});

Deno.test("sanitizeImageId() keeps safe names and neutralises paths", () => {
  assert.equal(sanitizeImageId("ubuntu-22.04.qcow2"), "ubuntu-22.04.qcow2");
  assert.equal(sanitizeImageId("../../etc/passwd"), "___.._etc_passwd");
  assert.equal(sanitizeImageId(".."), "__");
  assert.equal(sanitizeImageId("a b/c"), "a_b_c");
  assert.equal(sanitizeImageId(""), "image");
  assert.equal(sanitizeImageId("x".repeat(300)).length, 200);
});

Deno.test("validateImageInfo() never echoes credentials of a refused proxy URL", () => {
  assert.throws(
    () =>
      validateImageInfo({
        id: "a",
        urls: ["http://127.0.0.1/a"],
        checksum: "ab".repeat(32),
        proxies: { http: "unix://admin:hunter2@/run/docker.sock" },
      }, { md5Enabled: true }),
    (err: Error) =>
      err instanceof InvalidCommandParamsError && err.message.includes("image_info.proxies.http") &&
      err.message.includes("//***@") && !err.message.includes("hunter2"),
  );
});
