/**
 * The HTTP settings for one image (spec 08 §4): proxies and `no_proxy` from `image_info`,
 * the `Authorization` header, and outbound TLS options.
 *
 * Proxies: a URL's scheme selects `proxies.http` / `proxies.https` (or `proxies.all`), unless
 * its host matches `no_proxy` (comma list of host names, `.domain` suffixes, `host:port`, `*`).
 * Each proxy gets its own `Deno.createHttpClient({proxy})`; `user:password@` in a proxy URL
 * becomes the proxy's basic auth. IPA exports `no_proxy` to its process environment; we match
 * it here instead, so one deployment cannot change another request's routing. Requests that use
 * no `image_info` proxy go through Deno's default client, which honours the agent's own
 * `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` environment.
 *
 * TLS: `caCerts` and a client `cert`/`key` are supported per client. Turning verification off
 * (`insecure`) is not possible per client in Deno; it needs the process flag
 * `--unsafely-ignore-certificate-errors`.
 */
import { ImageDownloadError } from "../api/errors.ts";
import { addSecret } from "../log.ts";
import type { ImageInfo } from "./image_info.ts";

export interface TlsOptions {
  /** Extra trusted CA certificates, PEM (`cafile` contents). */
  caCerts?: string[];
  /** Client certificate and key, PEM (`certfile`/`keyfile` contents). */
  cert?: string;
  key?: string;
}

/** The agent's own image-server credentials (`[DEFAULT]image_server_*`, spec 08 §4). */
export interface ServerAuthOptions {
  strategy: "noauth" | "http_basic";
  user?: string | null;
  password?: string | null;
}

export interface ImageHttpOptions {
  tls?: TlsOptions;
  serverAuth?: ServerAuthOptions;
}

/** Fetch with one image's proxies, auth and TLS. Dispose to close the HTTP clients. */
export interface ImageHttp extends Disposable {
  fetch(
    url: string,
    init: { signal: AbortSignal; headers?: Record<string, string> },
  ): Promise<Response>;
}

function basicAuth(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

function decodeAuthorization(encoded: string): string {
  try {
    const binary = atob(encoded.trim());
    return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    throw new ImageDownloadError(
      "image_info.image_request_authorization is not valid base64; cannot authenticate the " +
        "image download",
    );
  }
}

/**
 * The `Authorization` header value, first match wins (spec 08 §4): the conductor's literal
 * header, `image_info` basic credentials, the agent's configured basic credentials.
 */
export function authorizationFor(info: ImageInfo, serverAuth?: ServerAuthOptions): string | null {
  if (info.image_request_authorization) {
    const value = decodeAuthorization(info.image_request_authorization);
    addSecret(value);
    addSecret(info.image_request_authorization);
    return value;
  }
  const sources = [
    {
      name: "image_info",
      strategy: info.image_server_auth_strategy,
      user: info.image_server_user,
      password: info.image_server_password,
    },
    { name: "the agent configuration", ...serverAuth },
  ];
  for (const source of sources) {
    if (source.strategy !== "http_basic") continue;
    if (!source.user || !source.password) {
      throw new ImageDownloadError(
        `Download of image ${info.id} failed: ${source.name} asks for http_basic ` +
          `authentication but image_server_user or image_server_password is not set`,
      );
    }
    addSecret(source.password);
    const header = basicAuth(source.user, source.password);
    addSecret(header);
    return header;
  }
  return null;
}

/** Whether `url` bypasses proxies under a `no_proxy` list. */
export function matchesNoProxy(url: URL, noProxy: string | null | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (const raw of noProxy.split(",")) {
    let entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    let entryPort: string | null = null;
    const portMatch = /^(.*[^:]):(\d+)$/.exec(entry);
    if (portMatch && !entry.includes("::")) {
      entry = portMatch[1] ?? entry;
      entryPort = portMatch[2] ?? null;
    }
    if (entryPort && entryPort !== port) continue;
    entry = entry.replace(/^\*?\./, "").replace(/^\[|\]$/g, "");
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/** The proxy URL for `url` from `image_info.proxies`, or null for a direct request. */
export function proxyFor(url: URL, info: ImageInfo): string | null {
  const proxies = info.proxies;
  if (!proxies || matchesNoProxy(url, info.no_proxy)) return null;
  const scheme = url.protocol.replace(/:$/, "");
  return proxies[scheme] ?? proxies["all"] ?? null;
}

function proxyOption(proxyUrl: string): Deno.Proxy {
  const parsed = new URL(proxyUrl);
  if (!parsed.username) return { url: proxyUrl };
  const username = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  addSecret(password);
  parsed.username = "";
  parsed.password = "";
  return { url: parsed.href, basicAuth: { username, password } };
}

/** Builds the HTTP access for one image. Throws `ImageDownloadError` for unusable credentials. */
export function createImageHttp(info: ImageInfo, options: ImageHttpOptions = {}): ImageHttp {
  const authorization = authorizationFor(info, options.serverAuth);
  const tls = options.tls ?? {};
  const hasTls = Boolean(tls.caCerts?.length || tls.cert);
  const clients = new Map<string, Deno.HttpClient>();

  function clientFor(url: URL): Deno.HttpClient | undefined {
    const proxy = proxyFor(url, info);
    if (!proxy && !hasTls) return undefined;
    const key = proxy ?? "";
    let client = clients.get(key);
    if (!client) {
      const base: Deno.CreateHttpClientOptions = {};
      if (tls.caCerts?.length) base.caCerts = tls.caCerts;
      if (proxy) base.proxy = proxyOption(proxy);
      client = tls.cert && tls.key
        ? Deno.createHttpClient({ ...base, cert: tls.cert, key: tls.key })
        : Deno.createHttpClient(base);
      clients.set(key, client);
    }
    return client;
  }

  return {
    fetch(url, init) {
      const parsed = new URL(url);
      const headers = new Headers(init.headers);
      if (authorization) headers.set("authorization", authorization);
      const client = clientFor(parsed);
      return fetch(parsed, { headers, signal: init.signal, ...(client ? { client } : {}) });
    },
    [Symbol.dispose]() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
