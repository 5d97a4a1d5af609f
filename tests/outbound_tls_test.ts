/**
 * Outbound TLS verification (issue #7 scope 1): the Ironic client and the image download check
 * the server's certificate by default, and trust a private CA only through `cafile`. The server
 * is a real HTTPS `Deno.serve` on 127.0.0.1 with a certificate from src/tls/self_signed.ts, which
 * no default trust store contains.
 */
import assert from "node:assert/strict";
import { ImageDownloadError } from "../src/api/errors.ts";
import { openImage } from "../src/image/download.ts";
import { createImageHttp, type ImageInfo } from "../src/image/mod.ts";
import { IronicClient } from "../src/ironic/mod.ts";
import { IronicConnectionError } from "../src/ironic/errors.ts";
import { Logger } from "../src/log.ts";
import { generateSelfSignedCertificate } from "../src/tls/self_signed.ts";

const IMAGE = new TextEncoder().encode("image bytes over verified TLS\n".repeat(100));

async function httpsServer() {
  const cert = await generateSelfSignedCertificate({ host: "127.0.0.1", commonName: "test" });
  const dir = await Deno.makeTempDir({ prefix: "outbound-tls-" });
  const cafile = `${dir}/ca.pem`;
  await Deno.writeTextFile(cafile, cert.certPem);
  let requests = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: cert.certPem, key: cert.keyPem, onListen() {} },
    (req) => {
      requests++;
      const path = new URL(req.url).pathname;
      if (path === "/") return Response.json({ default_version: { version: "1.82" } });
      if (path === "/image.raw") return new Response(IMAGE);
      return new Response("not found", { status: 404 });
    },
  );
  return {
    url: `https://127.0.0.1:${server.addr.port}`,
    cafile,
    /** Requests that completed a TLS handshake and reached the handler. */
    get requests() {
      return requests;
    },
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

const quiet = new Logger();

Deno.test("IronicClient refuses an untrusted certificate and accepts it with cafile", async () => {
  await using server = await httpsServer();
  const options = { apiUrls: [server.url], httpRequestTimeout: 10, logger: quiet };

  using untrusted = new IronicClient(options);
  await assert.rejects(
    () => untrusted.request("GET", "/"),
    (err: Error) => {
      assert.ok(err instanceof IronicConnectionError, String(err));
      assert.match(err.message, /certificate|UnknownIssuer/i);
      return true;
    },
  );
  assert.equal(server.requests, 0, "nothing reached the server without a verified handshake");

  using trusting = new IronicClient({ ...options, cafile: server.cafile });
  const response = await trusting.request("GET", "/");
  assert.equal(response.status, 200);
  assert.equal(JSON.parse(response.body).default_version.version, "1.82");
  assert.equal(server.requests, 1);
});

Deno.test("image download refuses an untrusted certificate and accepts it with cafile", async () => {
  await using server = await httpsServer();
  const info = { id: "img", urls: [`${server.url}/image.raw`] } as ImageInfo;
  const options = {
    connectionTimeoutMs: 10_000,
    retries: 0,
    retryIntervalMs: 0,
    log: quiet,
    imageId: "img",
  };

  {
    using http = createImageHttp(info);
    await assert.rejects(
      () => openImage(http, info.urls, options),
      (err: Error) => {
        assert.ok(err instanceof ImageDownloadError, String(err));
        assert.match(err.message, /certificate|UnknownIssuer/i);
        return true;
      },
    );
  }
  assert.equal(server.requests, 0, "nothing reached the server without a verified handshake");

  // The same trust the deployer builds from `cafile` (src/deploy/image_deployer.ts).
  using http = createImageHttp(info, {
    tls: { caCerts: [await Deno.readTextFile(server.cafile)] },
  });
  await using image = await openImage(http, info.urls, options);
  let received = "";
  const decoder = new TextDecoder();
  for await (const chunk of image.chunks()) received += decoder.decode(chunk, { stream: true });
  assert.equal(received, new TextDecoder().decode(IMAGE));
  assert.equal(server.requests, 1);
});
