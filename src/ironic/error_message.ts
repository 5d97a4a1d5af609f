/**
 * Decoding Ironic error bodies for log messages (spec 01 §4): `error_message` usually holds a
 * JSON-encoded string with `faultstring`; older releases put an object there; anything else is
 * shown as raw text.
 */

const MAX_TEXT = 1000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function fromObject(value: Record<string, unknown>): string | null {
  for (const key of ["faultstring", "title", "description"]) {
    const field = value[key];
    if (typeof field === "string" && field) return field;
  }
  return null;
}

function shorten(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > MAX_TEXT ? `${trimmed.slice(0, MAX_TEXT)}...` : trimmed;
}

/** The human-readable error carried in an Ironic error response body. */
export function decodeErrorMessage(body: string): string {
  const parsed = parseJson(body);
  if (!isRecord(parsed)) return shorten(body);
  const inner = parsed.error_message;
  if (typeof inner === "string") {
    const decoded = parseJson(inner);
    if (isRecord(decoded)) return fromObject(decoded) ?? shorten(inner);
    return shorten(inner);
  }
  if (isRecord(inner)) return fromObject(inner) ?? shorten(JSON.stringify(inner));
  return fromObject(parsed) ?? shorten(body);
}
