import assert from "node:assert/strict";
import { DeploymentError } from "../api/errors.ts";
import { isConfigDriveUrl, loadConfigDrive, MAX_CONFIG_DRIVE_BYTES } from "./config_drive.ts";
import { assertPlainTree } from "./config_drive_write.ts";

const IMAGE = new TextEncoder().encode("CD001 pretend this is an ISO image");

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function noFetch(): Promise<Response> {
  throw new Error("no fetch expected");
}

function serving(body: BodyInit, status = 200) {
  const urls: string[] = [];
  return {
    urls,
    fetch(url: string) {
      urls.push(url);
      return Promise.resolve(new Response(body, { status }));
    },
  };
}

const base = { nodeUuid: "node-1", timeoutMs: 5_000 };

Deno.test("isConfigDriveUrl() matches http(s) URLs in any case", () => {
  assert.equal(isConfigDriveUrl("HTTPS://example.com/cd"), true);
  assert.equal(isConfigDriveUrl("http://example.com/cd"), true);
  assert.equal(isConfigDriveUrl("H4sIAAAAAAAC/+3d"), false);
});

Deno.test("loadConfigDrive() decodes base64 of a gzip image", async () => {
  const encoded = (await gzip(IMAGE)).toBase64();
  assert.deepEqual(await loadConfigDrive(encoded, { ...base, fetch: noFetch }), IMAGE);
});

Deno.test("loadConfigDrive() fetches a URL holding base64 or the raw image", async (t) => {
  await t.step("base64 body", async () => {
    const server = serving((await gzip(IMAGE)).toBase64());
    const got = await loadConfigDrive("http://127.0.0.1/cd", { ...base, fetch: server.fetch });
    assert.deepEqual(got, IMAGE);
    assert.deepEqual(server.urls, ["http://127.0.0.1/cd"]);
  });
  await t.step("raw gzip body", async () => {
    const server = serving(await gzip(IMAGE) as Uint8Array<ArrayBuffer>);
    assert.deepEqual(await loadConfigDrive("http://h/cd", { ...base, fetch: server.fetch }), IMAGE);
  });
  await t.step("raw uncompressed body", async () => {
    const raw = new Uint8Array([0, 1, 2, 255, 0x80]);
    const server = serving(raw);
    assert.deepEqual(await loadConfigDrive("http://h/cd", { ...base, fetch: server.fetch }), raw);
  });
});

Deno.test("loadConfigDrive() refuses what cannot be a config drive", async (t) => {
  await t.step("not base64", async () => {
    await assert.rejects(
      () => loadConfigDrive("not base64 !!", { ...base, fetch: noFetch }),
      (err) => err instanceof DeploymentError && /node node-1 is not base64/.test(err.message),
    );
  });
  await t.step("base64 but not gzip", async () => {
    await assert.rejects(
      () => loadConfigDrive(IMAGE.toBase64(), { ...base, fetch: noFetch }),
      /not gzip-compressed/,
    );
  });
  await t.step("corrupt gzip", async () => {
    const bad = await gzip(IMAGE);
    bad.fill(0xff, 10, 20);
    await assert.rejects(
      () => loadConfigDrive(bad.toBase64(), { ...base, fetch: noFetch }),
      /error while decompressing the config drive for node node-1/,
    );
  });
  await t.step("HTTP error status", async () => {
    const server = serving("missing", 404);
    await assert.rejects(
      () => loadConfigDrive("http://h/cd", { ...base, fetch: server.fetch }),
      /from http:\/\/h\/cd: HTTP status 404/,
    );
  });
  await t.step("gzip bomb over 64 MiB", async () => {
    const bomb = await gzip(new Uint8Array(MAX_CONFIG_DRIVE_BYTES + 4096));
    await assert.rejects(
      () => loadConfigDrive(bomb.toBase64(), { ...base, fetch: noFetch }),
      /larger than the maximum of 64 MiB/,
    );
  });
});

Deno.test("assertPlainTree() refuses a symbolic link in an extracted config drive", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/openstack/latest`, { recursive: true });
    await Deno.writeTextFile(`${dir}/openstack/latest/meta_data.json`, "{}");
    await assertPlainTree(dir);
    await Deno.symlink("/etc/shadow", `${dir}/openstack/latest/user_data`);
    await assert.rejects(
      () => assertPlainTree(dir),
      (err: Error) =>
        err instanceof DeploymentError &&
        err.message.includes('"/openstack/latest/user_data" is a link or special file'),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
