/**
 * In-band inspection at start-up (spec 06): collect, POST to the callback, and return the node
 * UUID for lookup. Every failure is logged and yields null: the agent goes on with lookup.
 */
import type { Logger } from "../log.ts";
import { type CollectorContext, parseCollectorNames, runCollectors } from "./collectors.ts";
import { postInspectionData, type PostOptions } from "./post.ts";

export interface InspectOptions extends Omit<CollectorContext, "names"> {
  urls: readonly string[];
  /** `inspection_collectors`, comma-separated. */
  collectors: string;
  post: Omit<PostOptions, "log">;
}

export async function inspect(options: InspectOptions): Promise<string | null> {
  const log: Logger = options.log.with({ phase: "inspection" });
  const names = parseCollectorNames(options.collectors);
  log.info("running in-band inspection", {
    urls: options.urls.join(","),
    collectors: names.join(","),
  });
  const { data, failures } = await runCollectors({ ...options, log, names });
  const result = await postInspectionData(options.urls, data, { ...options.post, log });
  if (!result.ok) return null;
  if (failures.length > 0) {
    // IPA raises collector failures after the POST: inspection failed, lookup goes on alone.
    log.error("inspection collectors failed; continuing without the node UUID", {
      error: data.error,
    });
    return null;
  }
  return result.uuid;
}
