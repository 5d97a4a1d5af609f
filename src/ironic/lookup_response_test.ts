import assert from "node:assert/strict";
import { Logger, setSink } from "../log.ts";
import { throwsWith } from "./_test_assert.ts";
import { InvalidLookupResponse, parseLookupResponse } from "./lookup_response.ts";

const NODE = { uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123" };

function parse(body: unknown) {
  const restore = setSink(() => {});
  try {
    return parseLookupResponse(body, new Logger());
  } finally {
    restore();
  }
}

Deno.test("parseLookupResponse() fills missing node sections and keeps typed config", () => {
  const parsed = parse({
    node: { ...NODE, properties: null, extra: 1 },
    config: {
      heartbeat_timeout: "300",
      metrics: { backend: "statsd", prepend_host_reverse: true },
      metrics_statsd: { statsd_host: "localhost", statsd_port: 8125 },
      tls_min_version: "1.3",
    },
  });
  assert.deepEqual(parsed.node, {
    ...NODE,
    properties: {},
    instance_info: {},
    driver_internal_info: {},
    links: [],
    extra: 1,
  });
  assert.equal(parsed.config.heartbeat_timeout, 300);
  const backend: string | undefined = parsed.config.metrics?.backend;
  assert.equal(backend, "statsd");
  assert.equal(parsed.config.metrics_statsd?.statsd_port, 8125);
  assert.equal(parsed.config.tls_min_version, "1.3");
});

Deno.test("parseLookupResponse() prefers config.heartbeat_timeout and falls back to the top level", () => {
  assert.equal(
    parse({ node: NODE, config: { heartbeat_timeout: 60 }, heartbeat_timeout: 10 }).config
      .heartbeat_timeout,
    60,
  );
  assert.equal(
    parse({ node: NODE, config: null, heartbeat_timeout: 10 }).config.heartbeat_timeout,
    10,
  );
});

Deno.test("parseLookupResponse() names what is missing", () => {
  throwsWith(() => parse(null), InvalidLookupResponse, /not a JSON object/);
  throwsWith(() => parse({ config: {} }), InvalidLookupResponse, /node is missing/);
  throwsWith(() => parse({ node: { uuid: 5 } }), InvalidLookupResponse, /node.uuid is missing/);
  throwsWith(
    () => parse({ node: NODE }),
    InvalidLookupResponse,
    /neither config nor heartbeat_timeout/,
  );
  throwsWith(
    () => parse({ node: NODE, config: { heartbeat_timeout: -1 } }),
    InvalidLookupResponse,
    /heartbeat_timeout -1 is not a positive number/,
  );
});
