/**
 * Sends inspection data (spec 06 §5-6, IPA-master): up to 5 attempts; a connection error moves
 * to the next URL and, after the last one, counts as a failed attempt; HTTP 5xx and 409 are
 * retried; waits `min(30, max(5, 1.5 × 2^(attempt−1)))` seconds between attempts.
 */
import type { Logger } from "../log.ts";

export interface PostOptions {
  log: Logger;
  /** Per-request bound (`http_request_timeout`). */
  timeoutMs: number;
  attempts?: number;
  /** `X-OpenStack-Request-ID`, sent only when set. */
  requestId?: string | null;
  client?: Deno.HttpClient;
  /** Injected for tests; real seconds by default. */
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

/** What the server said: the node UUID on 2xx (null when absent), or why inspection failed. */
export type PostResult = { ok: true; uuid: string | null } | { ok: false; reason: string };

export function retryDelayMs(attempt: number): number {
  return Math.min(30, Math.max(5, 1.5 * 2 ** (attempt - 1))) * 1000;
}

function retryable(status: number): boolean {
  return status >= 500 || status === 409;
}

async function errorText(response: Response): Promise<string> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    const message = body?.error?.message ?? body?.error_message ?? body?.faultstring;
    if (typeof message === "string") return message;
  } catch {
    // Not JSON: show the text.
  }
  return text.slice(0, 500);
}

export async function postInspectionData(
  urls: readonly string[],
  data: Record<string, unknown>,
  options: PostOptions,
): Promise<PostResult> {
  const attempts = options.attempts ?? 5;
  const sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Accept: "application/json",
  };
  if (options.requestId) headers["X-OpenStack-Request-ID"] = options.requestId;
  const body = JSON.stringify(data);
  let last = "no attempt was made";
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let response: Response | null = null;
    for (const url of urls) {
      try {
        response = await fetch(url, {
          method: "POST",
          headers,
          body,
          client: options.client,
          signal: AbortSignal.any([
            AbortSignal.timeout(options.timeoutMs),
            ...(options.signal ? [options.signal] : []),
          ]),
        });
        break;
      } catch (err) {
        last = `cannot reach ${url}: ${err instanceof Error ? err.message : err}`;
        options.log.warn("inspection callback unreachable", { url, attempt, error: err });
      }
    }
    if (response) {
      const url = response.url || urls[0];
      if (response.ok) {
        const json = await response.json().catch(() => null);
        const uuid = typeof json?.uuid === "string" ? json.uuid : null;
        options.log.info("inspection data accepted", { url, status: response.status, uuid });
        return { ok: true, uuid };
      }
      last = `inspector ${url} answered HTTP ${response.status}: ${await errorText(response)}`;
      if (!retryable(response.status)) break;
      options.log.warn("inspection callback failed; retrying", { attempt, error: last });
    }
    if (attempt < attempts) await sleep(retryDelayMs(attempt));
  }
  options.log.error("inspection failed, proceeding with lookup", { error: last });
  return { ok: false, reason: last };
}
