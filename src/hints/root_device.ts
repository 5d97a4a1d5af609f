/**
 * Root device hints (spec 07): validation and normalisation exactly as the Ironic conductor
 * and IPA do it, matching against listed block devices, and the install-device choice.
 */
import { DeviceNotFound } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { Logger } from "../log.ts";
import { matchSpec, parseSpec, type SpecExpression } from "./spec_matcher.ts";

/** The hint keys both conductors accept, with their types (spec 07 §2). `tran` is not one. */
export const ROOT_DEVICE_HINT_TYPES = {
  size: "int",
  model: "str",
  wwn: "str",
  serial: "str",
  vendor: "str",
  wwn_with_extension: "str",
  wwn_vendor_extension: "str",
  name: "str",
  rotational: "bool",
  hctl: "str",
  by_path: "str",
} as const;

export type HintKey = keyof typeof ROOT_DEVICE_HINT_TYPES;
export type StringHintKey = Exclude<HintKey, "size" | "rotational">;

/** One validated hint; `expression` is the normalised form shown in logs (`s== samsung%20ssd`). */
export type Hint =
  | { key: StringHintKey; kind: "string"; expression: string; spec: SpecExpression }
  | { key: "size"; kind: "size"; expression: string; spec: SpecExpression }
  | { key: "rotational"; kind: "boolean"; expression: string; value: boolean };

/** Validated hints plus the operator's original dict (for messages). */
export interface RootDeviceHints {
  readonly raw: Readonly<Record<string, unknown>>;
  readonly hints: readonly Hint[];
}

/**
 * Hints that fail validation. Callers decide what it means: `DeviceNotFound` on the deploy
 * path (as IPA does), `InvalidCommandParamsError` (400) when an API parameter carried them.
 */
export class InvalidRootDeviceHintError extends Error {
  /** The offending hint key (or `skip_block_devices`), null when the whole value is wrong. */
  readonly hint: string | null;
  readonly value: unknown;

  constructor(hint: string | null, value: unknown, message: string) {
    super(message);
    this.name = "InvalidRootDeviceHintError";
    this.hint = hint;
    this.value = value;
  }
}

const MIN_ROOT_SIZE = 4 * 2 ** 30;
const TRUE_STRINGS = new Set(["1", "t", "true", "on", "y", "yes"]);
const FALSE_STRINGS = new Set(["0", "f", "false", "off", "n", "no"]);
const VALID_KEYS = Object.keys(ROOT_DEVICE_HINT_TYPES) as HintKey[];

function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** Python's `str()`, which hints and device values go through before normalisation. */
function pythonStr(value: unknown): string {
  if (value === null || value === undefined) return "None";
  if (typeof value === "boolean") return value ? "True" : "False";
  return String(value);
}

/** `urllib.parse.quote(text)`: UTF-8 percent-encoding keeping letters, digits, `_.-~` and `/`. */
export function urlQuote(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.\-~/]/.test(char)
      ? char
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Thrown by `splitExpression` for values a device attribute may also have (empty, unparsable). */
class ExpressionError extends Error {}

/** `_extract_hint_operator_and_values`: the operator ("" if none) and the trimmed values. */
function splitExpression(expression: unknown): { op: string; values: string[]; text: string } {
  const text = pythonStr(expression).trim().toLowerCase();
  if (text === "") throw new ExpressionError("the expression is empty");
  const parsed = parseSpec(text);
  if (parsed === null) {
    throw new ExpressionError(`${show(text)} cannot be parsed (an operator needs a value)`);
  }
  if (parsed.op === null) return { op: "", values: [text], text };
  const values = text.split(parsed.op).filter((v) => v !== "").map((v) => v.trim());
  return { op: parsed.op, values, text };
}

/**
 * Normalises a string hint, or a device value it is compared with (spec 07 §3): lower-case,
 * split around the operator, URL-quote each value, re-join as `<op> v1 <op> v2`.
 */
export function normalizeHintExpression(expression: unknown): string {
  const { op, values } = splitExpression(expression);
  const joined = values.map((v) => ` ${urlQuote(v)} `).join(op);
  return (op + joined).trim();
}

function invalid(key: string, value: unknown, reason: string): InvalidRootDeviceHintError {
  return new InvalidRootDeviceHintError(
    key,
    value,
    `Invalid root device hint "${key}": ${reason}`,
  );
}

function parseStringHint(key: StringHintKey, value: unknown): Hint {
  if (typeof value !== "string") throw invalid(key, value, `${show(value)} is not a string`);
  let expression: string;
  try {
    expression = normalizeHintExpression(value);
  } catch (err) {
    if (err instanceof ExpressionError) throw invalid(key, value, err.message);
    throw err;
  }
  // No operator means string equality (`_append_operator_to_hints`).
  if (parseSpec(expression)?.op === null) expression = `s== ${expression}`;
  const spec = parseSpec(expression);
  if (spec === null) throw invalid(key, value, `${show(value)} cannot be parsed`);
  return { key, kind: "string", expression, spec };
}

function positiveInteger(text: string | undefined): boolean {
  return text !== undefined && /^[+-]?\d+$/.test(text) && Number(text) > 0;
}

function parseSizeHint(value: unknown): Hint {
  const notPositive = () => invalid("size", value, `${show(value)} is not a positive integer`);
  let split;
  try {
    split = splitExpression(value);
  } catch (err) {
    if (err instanceof ExpressionError) throw invalid("size", value, err.message);
    throw err;
  }
  const expression = split.op === "" ? `== ${split.text}` : split.text;
  const spec = parseSpec(expression);
  if (spec === null) throw notPositive();
  if (spec.op === "<range-in>") {
    // IPA rejects ranges (it reads "[ 10 20 )" as one integer); the master conductor accepts
    // them for size, so they are implemented: bounds in GiB, "[" "]" inclusive.
    const [, low, high] = spec.args;
    if (!positiveInteger(low) || !positiveInteger(high)) throw notPositive();
    if (Number(low) > Number(high)) {
      throw invalid("size", value, `${show(value)} has a lower bound above its upper bound`);
    }
    return { key: "size", kind: "size", expression, spec };
  }
  if (split.values.length === 0 || !split.values.every(positiveInteger)) throw notPositive();
  return { key: "size", kind: "size", expression, spec };
}

/** `strutils.bool_from_string(value, strict=True)`. */
function parseStrictBoolean(value: unknown): boolean | null {
  if (typeof value === "boolean") return value;
  const text = pythonStr(value).trim().toLowerCase();
  if (TRUE_STRINGS.has(text)) return true;
  if (FALSE_STRINGS.has(text)) return false;
  return null;
}

function parseRotationalHint(value: unknown): Hint {
  const parsed = parseStrictBoolean(value);
  if (parsed === null) {
    throw invalid(
      "rotational",
      value,
      `${show(value)} is not a Boolean (use true/false, yes/no, on/off, 1/0)`,
    );
  }
  return { key: "rotational", kind: "boolean", expression: String(parsed), value: parsed };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Validates a `root_device` dict (spec 07 §2-3). Returns null when there are no hints (absent
 * or `{}`); throws `InvalidRootDeviceHintError` naming the hint and value otherwise.
 */
export function parseRootDeviceHints(raw: unknown): RootDeviceHints | null {
  if (raw === null || raw === undefined) return null;
  if (!isRecord(raw)) {
    throw new InvalidRootDeviceHintError(
      null,
      raw,
      `Invalid root device hints ${show(raw)}: expected an object of hints`,
    );
  }
  const keys = Object.keys(raw);
  if (keys.length === 0) return null;
  const valid = VALID_KEYS.map((k) => `"${k}"`).join(", ");
  if (keys.includes("tran")) {
    // IPA-master would accept it, but both conductors reject it: honour the conductor.
    throw invalid(
      "tran",
      raw.tran,
      `the Ironic conductor does not accept it; valid hints are ${valid}`,
    );
  }
  const unknown = keys.filter((k) => !(k in ROOT_DEVICE_HINT_TYPES));
  if (unknown.length > 0) {
    throw new InvalidRootDeviceHintError(
      unknown[0]!,
      raw[unknown[0]!],
      `Invalid root device hints ${unknown.map((k) => `"${k}"`).join(", ")}: unknown ` +
        `${unknown.length === 1 ? "key" : "keys"}; valid hints are ${valid}`,
    );
  }
  const hints = keys.map((key): Hint => {
    const value = raw[key];
    if (key === "size") return parseSizeHint(value);
    if (key === "rotational") return parseRotationalHint(value);
    return parseStringHint(key as StringHintKey, value);
  });
  return { raw: { ...raw }, hints };
}

/** Device values a string hint is compared with: a list for all-values serial/WWN (§3). */
function deviceValues(device: BlockDevice, key: StringHintKey): unknown[] | null {
  if (key === "serial" && Array.isArray(device.serials)) return device.serials;
  if (key === "wwn" && Array.isArray(device.wwns)) return device.wwns;
  return null;
}

function normalizedOrNull(value: unknown): string | null {
  try {
    return normalizeHintExpression(value);
  } catch (err) {
    if (err instanceof ExpressionError) return null; // Empty value: the device is skipped.
    throw err;
  }
}

function matchHint(hint: Hint, device: BlockDevice): boolean {
  if (hint.kind === "boolean") return device.rotational === hint.value;
  if (hint.kind === "size") return matchSpec(device.size / 2 ** 30, hint.spec);
  const list = deviceValues(device, hint.key);
  if (list !== null) {
    // Any non-null collected value may match; nothing collected never matches.
    return list.filter((v) => v !== null && v !== undefined).some((v) => {
      const normalized = normalizedOrNull(v);
      return normalized !== null && matchSpec(normalized, hint.spec);
    });
  }
  // A null attribute is compared as "none" (Python's str(None)), an empty one never matches.
  const normalized = normalizedOrNull(device[hint.key]);
  return normalized !== null && matchSpec(normalized, hint.spec);
}

/** Whether `device` satisfies every hint. */
export function matchDevice(hints: RootDeviceHints, device: BlockDevice): boolean {
  return hints.hints.every((hint) => matchHint(hint, device));
}

/** Every device satisfying every hint, in listing order. */
export function findDevicesByHints(
  devices: readonly BlockDevice[],
  hints: RootDeviceHints,
): BlockDevice[] {
  return devices.filter((device) => matchDevice(hints, device));
}

function describeDevice(device: BlockDevice): string {
  const parts = [`${device.size} bytes`];
  if (device.model) parts.push(`model ${show(device.model.trim())}`);
  if (device.serial) parts.push(`serial ${show(device.serial)}`);
  parts.push(device.rotational ? "rotational" : "non-rotational");
  return `${device.name} (${parts.join(", ")})`;
}

/** `guess_root_disk`: the smallest device of at least 4 GiB, ties broken by name (§5). */
function guessRootDisk(devices: readonly BlockDevice[]): BlockDevice {
  const sorted = [...devices].sort((a, b) =>
    a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  const chosen = sorted.find((d) => d.size >= MIN_ROOT_SIZE);
  if (!chosen) {
    throw new DeviceNotFound(
      "No suitable device was found for deployment - root device hints were not provided " +
        `and all found block devices are smaller than ${MIN_ROOT_SIZE}B.`,
    );
  }
  return chosen;
}

/**
 * Chooses the install device among `devices` (already filtered and skip-listed): the first
 * device matching every hint, or without hints the smallest device of at least 4 GiB.
 */
export function selectRootDevice(
  devices: readonly BlockDevice[],
  hints: RootDeviceHints | null,
  log: Logger,
): BlockDevice {
  if (hints === null) {
    const chosen = guessRootDisk(devices);
    log.info("Picked root device: no root device hints, smallest device of at least 4 GiB", {
      device: chosen.name,
      size: chosen.size,
      candidates: devices.map((d) => d.name).join(","),
    });
    return chosen;
  }
  const chosen = devices.find((device) => matchDevice(hints, device));
  if (!chosen) {
    const candidates = devices.length > 0
      ? devices.map(describeDevice).join("; ")
      : "none (no block devices were found)";
    throw new DeviceNotFound(
      `No suitable device was found for deployment using these hints ${show(hints.raw)}. ` +
        `Candidate devices: ${candidates}`,
    );
  }
  log.info("Picked root device matching the root device hints", {
    device: chosen.name,
    hints: show(hints.raw),
    normalized: hints.hints.map((h) => `${h.key}: ${h.expression}`).join("; "),
  });
  return chosen;
}

function nonEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === "" || value === false) return false;
  return !isRecord(value) || Object.keys(value).length > 0;
}

/** `instance_info.root_device` if set and non-empty, else `properties.root_device` (§1). */
export function getRootDeviceHints(node: Node | null | undefined): unknown {
  const fromInstance = node?.instance_info?.root_device;
  if (nonEmpty(fromInstance)) return fromInstance;
  const fromProperties = node?.properties?.root_device;
  return nonEmpty(fromProperties) ? fromProperties : null;
}
