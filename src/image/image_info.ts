/**
 * `image_info`, the conductor's description of the image to deploy (spec 08 §1), and its
 * validation before any work starts (spec 08 §3). Unknown keys pass through untouched: the
 * conductor adds fields over releases and the partition-image path reads its own ones
 * (`root_mb`, `swap_mb`, ...).
 */
import { z } from "zod";
import { InvalidCommandParamsError } from "../api/errors.ts";

export const CHECKSUM_UNAVAILABLE_MESSAGE =
  "Image checksum is not available, either the 'checksum' field or the 'os_hash_algo' and " +
  "'os_hash_value' fields pair must be set for image verification.";

const NON_EMPTY_STRING = "a non-empty string";

function nonEmptyString() {
  return z.string({ error: NON_EMPTY_STRING }).min(1, { error: NON_EMPTY_STRING });
}

/** A string field that may also be null (the conductor sends null for unset values). */
function optionalString() {
  return z.string({ error: "a string or null" }).nullish();
}

/** Checksum fields: absent and null both mean "not given"; "" or a non-string is an error. */
function optionalNonEmptyString() {
  return nonEmptyString().nullish();
}

const HTTP_URL = "an http:// or https:// URL";

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

const PROXY_URL = "an http://, https:// or socks5:// proxy URL";

/** Proxy URLs go to Deno.createHttpClient; any other scheme (file:, unix:) is refused. */
function isProxyUrl(value: string): boolean {
  try {
    return ["http:", "https:", "socks5:", "socks5h:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

export const ImageInfoSchema = z.looseObject({
  id: nonEmptyString(),
  urls: z
    .array(z.string({ error: HTTP_URL }).refine(isHttpUrl, { error: HTTP_URL }), {
      error: "a non-empty list of URLs",
    })
    .min(1, { error: "a non-empty list of URLs" }),
  disk_format: optionalString(),
  container_format: optionalString(),
  stream_raw_images: z.boolean({ error: "a boolean" }).nullish(),
  checksum: optionalNonEmptyString(),
  os_hash_algo: optionalNonEmptyString(),
  os_hash_value: optionalNonEmptyString(),
  proxies: z
    .record(
      z.string(),
      z.string({ error: PROXY_URL }).refine(isProxyUrl, { error: PROXY_URL }).nullable(),
      { error: 'an object such as {"http": "<proxy URL>", "https": "<proxy URL>"}' },
    )
    .nullish(),
  no_proxy: optionalString(),
  node_uuid: optionalString(),
  image_type: optionalString(),
  deploy_boot_mode: optionalString(),
  boot_option: optionalString(),
  disk_label: optionalString(),
  configdrive: optionalString(),
  image_server_auth_strategy: optionalString(),
  image_server_user: optionalString(),
  image_server_password: optionalString(),
  image_request_authorization: optionalString(),
});

export type ImageInfo = z.infer<typeof ImageInfoSchema>;

export interface ValidateImageInfoOptions {
  /** Whether a 32-character (MD5) `checksum` counts as usable (`md5_enabled`). */
  md5Enabled: boolean;
}

/** Fields whose values must never appear in an error message. */
const SECRET_FIELDS = new Set(["image_server_password", "image_request_authorization"]);

function fieldName(path: readonly PropertyKey[]): string {
  let name = "image_info";
  for (const key of path) {
    name += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  }
  return name;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeValue(value: unknown, path: readonly PropertyKey[]): string {
  if (path.some((key) => SECRET_FIELDS.has(String(key)))) return "a value (not shown)";
  if (value === undefined) return "nothing";
  // URLs may carry credentials (`http://user:pass@proxy`); never echo them.
  const text = (JSON.stringify(value) ?? String(value)).replace(/\/\/[^/@\s"]*@/g, "//***@");
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

/** `image_info.urls must be a non-empty list of URLs, got []`. */
function describeIssue(raw: unknown, issue: z.core.$ZodIssue): string {
  const path = issue.path;
  return `${fieldName(path)} must be ${issue.message}, got ${
    describeValue(valueAt(raw, path), path)
  }`;
}

function isChecksumUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}

/** Spec 08 §3: a checksum is usable if a later step can pick an algorithm for it. */
function hasUsableChecksum(info: ImageInfo, md5Enabled: boolean): boolean {
  if (info.os_hash_algo && info.os_hash_value) return true;
  const checksum = info.checksum;
  if (!checksum) return false;
  if (isChecksumUrl(checksum) || checksum.length > 32) return true;
  return md5Enabled && checksum.length === 32;
}

/**
 * Validates the conductor's `image_info` (spec 08 §3) and returns it typed. Throws
 * `InvalidCommandParamsError` (HTTP 400) naming the field and the value it got.
 */
export function validateImageInfo(raw: unknown, options: ValidateImageInfoOptions): ImageInfo {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new InvalidCommandParamsError(
      `image_info must be an object, got ${describeValue(raw, [])}`,
    );
  }
  const parsed = ImageInfoSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidCommandParamsError(
      parsed.error.issues.map((issue) => describeIssue(raw, issue)).join("; "),
    );
  }
  const info = parsed.data;
  // The pair is all or nothing: an algorithm without a value (or the reverse) is a mistake.
  for (
    const [given, missing] of [["os_hash_algo", "os_hash_value"], [
      "os_hash_value",
      "os_hash_algo",
    ]] as const
  ) {
    if (info[given] && !info[missing]) {
      throw new InvalidCommandParamsError(
        `image_info.${missing} must be a non-empty string when image_info.${given} is set, got ${
          describeValue(valueAt(raw, [missing]), [missing])
        }`,
      );
    }
  }
  if (!hasUsableChecksum(info, options.md5Enabled)) {
    throw new InvalidCommandParamsError(CHECKSUM_UNAVAILABLE_MESSAGE);
  }
  return info;
}

/**
 * A form of the image id that is safe as a file name (`<tmpdir>/<id>`) or a log key: path
 * separators and other unusual characters become "_", and "." / ".." cannot escape a directory.
 */
export function sanitizeImageId(id: string): string {
  let safe = id.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, (dots) => "_".repeat(dots.length));
  if (safe.length > 200) safe = safe.slice(0, 200);
  return safe === "" ? "image" : safe;
}
