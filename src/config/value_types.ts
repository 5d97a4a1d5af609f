/**
 * Value types of the option table. Every source delivers strings (a bare boolean flag becomes
 * "true"), so each type is a zod schema from string to the typed value, plus the words an error
 * message puts after "expected".
 */
import { z } from "zod";

export interface ValueType<T> {
  readonly schema: z.ZodType<T, string>;
  readonly expected: string;
  /** A bare command-line flag (`--insecure`) means true, and `--no-insecure` false. */
  readonly boolean?: boolean;
}

const TRUE_WORDS: readonly string[] = ["true", "1", "yes", "on"];
const FALSE_WORDS: readonly string[] = ["false", "0", "no", "off"];

export function bool(): ValueType<boolean> {
  return {
    boolean: true,
    expected: "a boolean (true/false, 1/0, yes/no, on/off)",
    schema: z.string().trim().toLowerCase()
      .refine((word) => TRUE_WORDS.includes(word) || FALSE_WORDS.includes(word))
      .transform((word) => TRUE_WORDS.includes(word)),
  };
}

export function integer(min: number, max?: number): ValueType<number> {
  return {
    expected: max === undefined
      ? `an integer of at least ${min}`
      : `an integer from ${min} to ${max}`,
    schema: z.string().trim().regex(/^[+-]?\d+$/).transform(Number)
      .pipe(z.number().int().min(min).max(max ?? Number.MAX_SAFE_INTEGER)),
  };
}

export function seconds(): ValueType<number> {
  return {
    expected: "a number of seconds, 0 or more",
    schema: z.string().trim().regex(/^\+?(\d+(\.\d*)?|\.\d+)$/).transform(Number)
      .pipe(z.number().min(0)),
  };
}

export function oneOf<const T extends string>(values: readonly [T, ...T[]]): ValueType<T> {
  return {
    expected: `one of ${values.join(", ")}`,
    schema: z.string().trim().toLowerCase().pipe(z.enum(values)),
  };
}

/** Any string, trimmed; an empty one is allowed. */
export function text(): ValueType<string> {
  return { expected: "a string", schema: z.string().trim() };
}

export function nonEmptyText(): ValueType<string> {
  return { expected: "a non-empty string", schema: z.string().trim().min(1) };
}

/** An empty value means "none", as an empty option does in oslo.config files. */
export function orNull<T>(type: ValueType<T>): ValueType<T | null> {
  return {
    ...type,
    expected: `${type.expected}, or empty for none`,
    schema: z.union([z.string().trim().length(0).transform(() => null), type.schema]),
  };
}

/** Items of a comma-separated list: trimmed, empty ones dropped. */
function splitList(raw: string): string[] {
  return raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
}

export function list(item: z.ZodType<string, string>, expected: string): ValueType<string[]> {
  return { expected, schema: z.string().transform(splitList).pipe(z.array(item)) };
}

/** An Ironic or inspection endpoint: `mdns` or an http(s) URL (IPA strips trailing "/"). */
function isEndpoint(value: string): boolean {
  if (value === "mdns") return true;
  return /^https?:\/\/[^/]/i.test(value) && URL.canParse(value);
}

function withoutTrailingSlashes(url: string): string {
  return url.replace(/\/+$/, "");
}

const ENDPOINTS_EXPECTED = 'comma-separated http(s) URLs, or "mdns"';

export function endpointList(): ValueType<string[]> {
  const item = z.string().transform(withoutTrailingSlashes).pipe(z.string().refine(isEndpoint));
  return list(item, ENDPOINTS_EXPECTED);
}

/** Kept as one string (consumers split it), but checked like `api_url`. */
export function endpointText(): ValueType<string> {
  return {
    expected: ENDPOINTS_EXPECTED,
    schema: z.string().trim().refine((raw) =>
      splitList(raw).map(withoutTrailingSlashes).every(isEndpoint)
    ),
  };
}
