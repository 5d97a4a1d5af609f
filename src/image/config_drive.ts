/**
 * Config drive fetch and decode (spec 08 §8.1): the `configdrive` argument is either an
 * `http(s)://` URL or base64 of a gzip-compressed ISO 9660 (or vfat) image.
 *
 * The decoded image is held in memory: it is bounded by the 64 MiB limit of spec 08 §8.2, and
 * decompression stops as soon as it passes that limit, so a gzip bomb costs at most 64 MiB.
 */
import { DeploymentError } from "../api/errors.ts";

/** IPA `MAX_CONFIG_DRIVE_SIZE_MB`. */
export const MAX_CONFIG_DRIVE_BYTES = 64 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b];

export interface LoadConfigDriveOptions {
  nodeUuid: string;
  /** Fetches a URL (with the image's proxies and TLS); injected so tests need no server. */
  fetch(url: string, init: { signal: AbortSignal }): Promise<Response>;
  /** `image_download_connection_timeout`, milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export function isConfigDriveUrl(value: string): boolean {
  return /^https?:\/\//i.test(value.trim());
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

function tooLarge(nodeUuid: string, bytes: number): DeploymentError {
  return new DeploymentError(
    `Config drive for node ${nodeUuid} is larger than the maximum of 64 MiB ` +
      `(${Math.ceil(bytes / 1048576)} MiB or more after decompression)`,
  );
}

/** Gunzips `compressed`, refusing output beyond `MAX_CONFIG_DRIVE_BYTES`. */
async function gunzipBounded(compressed: Uint8Array, nodeUuid: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const stream = new Blob([compressed as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > MAX_CONFIG_DRIVE_BYTES) throw tooLarge(nodeUuid, total);
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof DeploymentError) throw err;
    throw new DeploymentError(
      `Encountered error while decompressing the config drive for node ${nodeUuid}: ` +
        (err instanceof Error ? err.message : String(err)),
      { cause: err },
    );
  } finally {
    await reader.cancel().catch(() => {});
  }
  const image = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    image.set(chunk, offset);
    offset += chunk.length;
  }
  return image;
}

function decodeBase64(text: string): Uint8Array | null {
  try {
    return Uint8Array.fromBase64(text.trim());
  } catch {
    return null;
  }
}

async function fetchBody(url: string, options: LoadConfigDriveOptions): Promise<Uint8Array> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  let response: Response;
  try {
    response = await options.fetch(url, { signal });
  } catch (err) {
    throw new DeploymentError(
      `Can't download the configdrive content for node ${options.nodeUuid} from ${url}: ` +
        (err instanceof Error ? err.message : String(err)),
      { cause: err },
    );
  }
  if (response.status >= 400) {
    await response.body?.cancel();
    throw new DeploymentError(
      `Can't download the configdrive content for node ${options.nodeUuid} from ${url}: ` +
        `HTTP status ${response.status}`,
    );
  }
  // The body is base64 text or, at most, a compressed image bounded like the decoded one.
  const body = new Uint8Array(await response.arrayBuffer());
  if (body.length > 2 * MAX_CONFIG_DRIVE_BYTES) throw tooLarge(options.nodeUuid, body.length);
  return body;
}

/**
 * Returns the uncompressed config-drive image. Throws `DeploymentError` for an unreachable URL,
 * malformed content or an image over 64 MiB.
 */
export async function loadConfigDrive(
  configdrive: string,
  options: LoadConfigDriveOptions,
): Promise<Uint8Array> {
  const fromUrl = isConfigDriveUrl(configdrive);
  let data: Uint8Array;
  if (fromUrl) {
    const body = await fetchBody(configdrive.trim(), options);
    // IPA: a URL body that is not base64 is taken as the image itself.
    data = decodeBase64(new TextDecoder().decode(body)) ?? body;
  } else {
    const decoded = decodeBase64(configdrive);
    if (decoded === null) {
      throw new DeploymentError(
        `Config drive for node ${options.nodeUuid} is not base64 encoded or the content is ` +
          "malformed",
      );
    }
    data = decoded;
  }
  if (isGzip(data)) return await gunzipBounded(data, options.nodeUuid);
  if (!fromUrl) {
    throw new DeploymentError(
      `Config drive for node ${options.nodeUuid} is not gzip-compressed: the base64 content ` +
        "must be a gzip-compressed ISO 9660 or vfat image",
    );
  }
  if (data.length > MAX_CONFIG_DRIVE_BYTES) throw tooLarge(options.nodeUuid, data.length);
  return data;
}
