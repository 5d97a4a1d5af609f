/** Where inspection data goes (spec 06 §1-2). */
import { ConfigError } from "../api/errors.ts";

export interface CallbackUrlSettings {
  /** `inspection_callback_url`: URL(s), comma-separated, or `mdns`; null when unset. */
  inspectionCallbackUrl: string | null;
  /** `api_url` entries. */
  apiUrl: readonly string[];
  /**
   * Whether `inspection_collectors` was set by the operator (not just defaulted): IPA-master
   * then derives the callback from the API URLs.
   */
  collectorsConfigured: boolean;
}

function stripSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

/**
 * The callback URLs to try in order; [] when inspection is off. Throws `ConfigError` for
 * `mdns`, which needs an mDNS client this agent does not have.
 */
export function inspectionCallbackUrls(settings: CallbackUrlSettings): string[] {
  const explicit = settings.inspectionCallbackUrl?.trim() ?? "";
  if (explicit === "mdns") {
    throw new ConfigError(
      'Cannot resolve inspection_callback_url "mdns": mDNS discovery is not supported by this ' +
        "agent; give the endpoint URL instead",
    );
  }
  if (explicit !== "") {
    return explicit.split(",").map((u) => u.trim()).filter((u) => u !== "");
  }
  if (settings.collectorsConfigured && settings.apiUrl.length > 0) {
    return settings.apiUrl.map((url) => `${stripSlash(url)}/v1/continue_inspection`);
  }
  return [];
}
