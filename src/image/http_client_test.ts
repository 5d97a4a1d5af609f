import assert from "node:assert/strict";
import { ImageDownloadError } from "../api/errors.ts";
import { startImageServer } from "../../tests/harness/image_server.ts";
import { authorizationFor, createImageHttp, matchesNoProxy, proxyFor } from "./http_client.ts";
import { type ImageInfo, validateImageInfo } from "./image_info.ts";

function info(fields: Record<string, unknown> = {}): ImageInfo {
  return validateImageInfo(
    { id: "img", urls: ["http://images/disk.img"], checksum: "a".repeat(64), ...fields },
    { md5Enabled: true },
  );
}

Deno.test("matchesNoProxy() follows the usual no_proxy conventions", async (t) => {
  const cases: [string, string, boolean][] = [
    ["http://images.example.com/x", "example.com", true],
    ["http://images.example.com/x", ".example.com", true],
    ["http://images.example.com/x", "*.example.com", true],
    ["http://example.com/x", "example.com", true],
    ["http://badexample.com/x", "example.com", false],
    ["http://10.0.0.2:8080/x", "10.0.0.2", true],
    ["http://10.0.0.2:8080/x", "10.0.0.2:8080", true],
    ["http://10.0.0.2:8080/x", "10.0.0.2:9090", false],
    ["https://10.0.0.2/x", "10.0.0.2:443", true],
    ["http://[fd00::2]:8080/x", "fd00::2", true],
    ["http://anything/x", "*", true],
    ["http://anything/x", " other , anything ", true],
    ["http://anything/x", "", false],
  ];
  for (const [url, noProxy, expected] of cases) {
    await t.step(`${url} vs "${noProxy}"`, () => {
      assert.equal(matchesNoProxy(new URL(url), noProxy), expected);
    });
  }
});

Deno.test("proxyFor() picks the proxy by URL scheme unless no_proxy matches", () => {
  const withProxies = info({
    proxies: { http: "http://proxy:3128", https: "http://tls-proxy:3128" },
    no_proxy: "conductor.local",
  });
  assert.equal(proxyFor(new URL("http://images/x"), withProxies), "http://proxy:3128");
  assert.equal(proxyFor(new URL("https://images/x"), withProxies), "http://tls-proxy:3128");
  assert.equal(proxyFor(new URL("http://conductor.local/x"), withProxies), null);
  assert.equal(proxyFor(new URL("http://images/x"), info()), null);
  assert.equal(
    proxyFor(new URL("https://images/x"), info({ proxies: { all: "http://p:1" } })),
    "http://p:1",
  );
});

Deno.test("authorizationFor() takes the first source that applies", () => {
  assert.equal(authorizationFor(info()), null);
  assert.equal(
    authorizationFor(info({ image_request_authorization: btoa("Bearer registry-token") })),
    "Bearer registry-token",
  );
  assert.equal(
    authorizationFor(
      info({
        image_server_auth_strategy: "http_basic",
        image_server_user: "ironic",
        image_server_password: "s3cret",
      }),
      { strategy: "http_basic", user: "agent", password: "other" },
    ),
    `Basic ${btoa("ironic:s3cret")}`,
  );
  assert.equal(
    authorizationFor(info(), { strategy: "http_basic", user: "agent", password: "pw" }),
    `Basic ${btoa("agent:pw")}`,
  );
  assert.equal(authorizationFor(info(), { strategy: "noauth" }), null);
});

Deno.test("authorizationFor() refuses http_basic without credentials", () => {
  assert.throws(
    () => authorizationFor(info(), { strategy: "http_basic", user: "agent", password: null }),
    (err) =>
      err instanceof ImageDownloadError &&
      err.details.includes("the agent configuration asks for http_basic authentication"),
  );
  assert.throws(
    () => authorizationFor(info({ image_request_authorization: "%%%" })),
    (err) => err instanceof ImageDownloadError && err.details.includes("not valid base64"),
  );
});

Deno.test("createImageHttp() sends the Authorization header", async () => {
  await using server = startImageServer({ "/disk.img": { body: "data" } });
  using http = createImageHttp(
    info({ image_request_authorization: btoa("Bearer t0ken-value") }),
  );
  const response = await http.fetch(server.url("/disk.img"), {
    signal: new AbortController().signal,
  });
  assert.equal(await response.text(), "data");
  assert.equal(server.received[0]?.headers.get("authorization"), "Bearer t0ken-value");
});

Deno.test("createImageHttp() routes through image_info's proxy", async () => {
  // The image server also answers proxy-style requests ("GET http://host/path").
  await using proxy = startImageServer({ "/disk.img": { body: "via proxy" } });
  using http = createImageHttp(info({ proxies: { http: proxy.origin } }));
  const response = await http.fetch("http://image-host.invalid/disk.img", {
    signal: new AbortController().signal,
  });
  assert.equal(await response.text(), "via proxy");
  assert.equal(proxy.requests("/disk.img"), 1);
});
