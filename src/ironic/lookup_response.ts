/**
 * The body of a successful `GET /v1/lookup` (spec 01 §4): the node (opaque, cached for hardware
 * managers) and the `config` object. Parsing is lenient where IPA is lenient: unknown keys are
 * kept, a known config key with a value of the wrong type is dropped with a warning, and only a
 * missing node, node UUID or heartbeat timeout makes the answer invalid (the caller retries).
 */
import { z } from "zod";
import type { Logger } from "../log.ts";

const record = z.record(z.string(), z.unknown());

/** `node` of the lookup answer; masked secrets appear as `"******"`. */
export const lookupNodeSchema = z.object({
  uuid: z.string().min(1),
  properties: record.catch({}),
  instance_info: record.catch({}),
  driver_internal_info: record.catch({}),
  links: z.array(z.unknown()).catch([]),
}).loose();

export type LookupNode = z.infer<typeof lookupNodeSchema>;

const metricsSchema = z.object({
  backend: z.string().optional(),
  prepend_host: z.boolean().optional(),
  prepend_uuid: z.boolean().optional(),
  prepend_host_reverse: z.boolean().optional(),
  global_prefix: z.string().nullable().optional(),
}).loose();

const metricsStatsdSchema = z.object({
  statsd_host: z.string().optional(),
  statsd_port: z.number().int().optional(),
}).loose();

/** Seconds; Ironic sends an integer, a numeric string is tolerated. */
const heartbeatTimeoutSchema = z.union([z.number(), z.string().regex(/^\s*\d+(\.\d+)?\s*$/)])
  .transform(Number)
  .pipe(z.number().positive().finite());

/** Known optional keys of `config`; all except `heartbeat_timeout` may be absent. */
const optionalConfigFields = {
  agent_token: z.string().nullable(),
  agent_token_required: z.boolean().nullable(),
  metrics: metricsSchema.nullable(),
  metrics_statsd: metricsStatsdSchema.nullable(),
  disable_deep_image_inspection: z.boolean().nullable(),
  permitted_image_formats: z.array(z.string()).nullable(),
  enable_bios_bootloader_install: z.boolean().nullable(),
  agent_md5_checksum_enable: z.boolean().nullable(),
  agent_skip_bmc_detect: z.boolean().nullable(),
  agent_containers: record.nullable(),
  tls_min_version: z.string().nullable(),
  tls_cipher_suites: z.string().nullable(),
} as const;

/** The lookup `config` object; unknown keys pass through untyped. */
export const lookupConfigSchema = z.object({
  heartbeat_timeout: heartbeatTimeoutSchema,
  ...Object.fromEntries(
    Object.entries(optionalConfigFields).map(([key, schema]) => [key, schema.optional()]),
  ) as {
    [K in keyof typeof optionalConfigFields]: z.ZodOptional<(typeof optionalConfigFields)[K]>;
  },
}).loose();

export type LookupConfig = z.infer<typeof lookupConfigSchema>;

export interface ParsedLookup {
  node: LookupNode;
  config: LookupConfig;
}

/** Why a lookup answer was rejected; logged, then the lookup is retried. */
export class InvalidLookupResponse extends Error {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Drops known keys whose value has the wrong type, warning about each (never the value). */
function dropInvalidFields(config: Record<string, unknown>, log: Logger): Record<string, unknown> {
  const out = { ...config };
  for (const [key, schema] of Object.entries(optionalConfigFields)) {
    if (!(key in out)) continue;
    const result = schema.safeParse(out[key]);
    if (!result.success) {
      log.warn("Ignoring invalid value in lookup config", {
        key,
        error: result.error.issues[0]?.message,
      });
      delete out[key];
    }
  }
  return out;
}

/**
 * Validates the JSON body of a 200 lookup answer. Applies the old-format fallback: without
 * `config` (or with one lacking `heartbeat_timeout`) a top-level `heartbeat_timeout` is used.
 * Throws `InvalidLookupResponse` naming what is missing.
 */
export function parseLookupResponse(body: unknown, log: Logger): ParsedLookup {
  if (!isRecord(body)) throw new InvalidLookupResponse("the body is not a JSON object");
  const nodeResult = lookupNodeSchema.safeParse(body.node);
  if (!nodeResult.success) {
    throw new InvalidLookupResponse(
      isRecord(body.node) ? "node.uuid is missing or not a string" : "node is missing",
    );
  }
  const config = isRecord(body.config) ? { ...body.config } : {};
  if (!("heartbeat_timeout" in config) || config.heartbeat_timeout == null) {
    if (body.heartbeat_timeout == null) {
      throw new InvalidLookupResponse(
        isRecord(body.config)
          ? "config.heartbeat_timeout is missing"
          : "neither config nor heartbeat_timeout is present",
      );
    }
    config.heartbeat_timeout = body.heartbeat_timeout;
  }
  const parsed = lookupConfigSchema.safeParse(dropInvalidFields(config, log));
  if (!parsed.success) {
    throw new InvalidLookupResponse(
      `heartbeat_timeout ${JSON.stringify(config.heartbeat_timeout)} is not a positive number`,
    );
  }
  return { node: nodeResult.data, config: parsed.data };
}
