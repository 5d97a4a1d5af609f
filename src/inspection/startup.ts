/** Inspection as a step of agent start-up (spec 06 §1, §8): before lookup, never fatal. */
import { ConfigError } from "../api/errors.ts";
import type { Config } from "../config.ts";
import type { HardwareManagers } from "../hardware/dispatch.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { inspectionCallbackUrls } from "./callback_url.ts";
import { DEFAULT_COLLECTORS } from "./collectors.ts";
import { inspect } from "./inspect.ts";

export interface StartupInspectionOptions {
  config: Readonly<Config>;
  runner: Runner;
  log: Logger;
  managers: HardwareManagers;
  signal: AbortSignal;
  /** Settles once the managers are initialised (disks found); awaited before collecting. */
  managersReady: Promise<void>;
}

/** Runs inspection when configured; returns the node UUID for lookup, or null. */
export async function runStartupInspection(
  options: StartupInspectionOptions,
): Promise<string | null> {
  const { config, log } = options;
  let urls: string[];
  try {
    urls = inspectionCallbackUrls({
      inspectionCallbackUrl: config.inspectionCallbackUrl,
      apiUrl: config.apiUrl,
      collectorsConfigured: config.inspectionCollectors !== null,
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    log.error("inspection skipped", { error: err.details });
    return null;
  }
  if (urls.length === 0) return null;
  await options.managersReady;
  const client = config.cafile
    ? Deno.createHttpClient({ caCerts: [await Deno.readTextFile(config.cafile)] })
    : undefined;
  try {
    return await inspect({
      urls,
      collectors: config.inspectionCollectors ?? DEFAULT_COLLECTORS,
      runner: options.runner,
      log,
      managers: options.managers,
      post: {
        timeoutMs: config.httpRequestTimeout * 1000,
        requestId: config.globalRequestId,
        client,
        signal: options.signal,
      },
    });
  } catch (err) {
    log.error("inspection failed, proceeding with lookup", { error: err });
    return null;
  } finally {
    client?.close();
  }
}
