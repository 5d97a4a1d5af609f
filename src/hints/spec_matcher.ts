/**
 * The expression grammar of oslo.utils `specs_matcher` (spec 07 §3), which both Ironic
 * conductors and IPA use for root device hints: `[<op>] <value> [<op> <value> ...]`.
 *
 * The parser mirrors pyparsing's behaviour closely, including its quirks, because hints are
 * validated by the conductor with that grammar and must mean the same thing here:
 * - the first alternative that parses wins, and trailing text is ignored (no `parseAll`);
 * - an atom is any run of non-blanks that does not *start* with an operator;
 * - `=` means `>=` (a legacy quirk kept by oslo).
 */

/** Unary operators, in pyparsing's MatchFirst order (`==` before `=`, `>=` before `>`...). */
const UNARY_OPERATORS = [
  "==",
  "=",
  "!=",
  "<in>",
  ">=",
  "<=",
  ">",
  "<",
  "s==",
  "s!=",
  "s<=",
  "s<",
  "s>=",
  "s>",
] as const;

const KEYWORDS: readonly string[] = [...UNARY_OPERATORS, "<all-in>", "<or>", "<range-in>"];

const NUMERIC_OPERATORS = new Set(["==", "=", "!=", "<", "<=", ">", ">="]);

/** A parsed expression: `op` null means a bare value compared for string equality. */
export interface SpecExpression {
  op: string | null;
  args: string[];
}

function skipBlanks(text: string, at: number): number {
  while (at < text.length && /\s/.test(text[at]!)) at++;
  return at;
}

function literal(text: string, at: number, word: string): number | null {
  const start = skipBlanks(text, at);
  return text.startsWith(word, start) ? start + word.length : null;
}

function atom(text: string, at: number): [string, number] | null {
  const start = skipBlanks(text, at);
  if (KEYWORDS.some((k) => text.startsWith(k, start))) return null;
  const match = /^\S+/.exec(text.slice(start));
  return match ? [match[0], start + match[0].length] : null;
}

function disjunction(text: string): SpecExpression | null {
  const args: string[] = [];
  let at = 0;
  for (;;) {
    const afterOp = literal(text, at, "<or>");
    if (afterOp === null) break;
    const value = atom(text, afterOp);
    if (value === null) break;
    args.push(value[0]);
    at = value[1];
  }
  return args.length > 0 ? { op: "<or>", args } : null;
}

function allIn(text: string): SpecExpression | null {
  let at = literal(text, 0, "<all-in>");
  if (at === null) return null;
  const args: string[] = [];
  for (let value = atom(text, at); value !== null; value = atom(text, at)) {
    args.push(value[0]);
    at = value[1];
  }
  return args.length > 0 ? { op: "<all-in>", args } : null;
}

function oneOf(text: string, at: number, choices: readonly string[]): [string, number] | null {
  for (const choice of choices) {
    const next = literal(text, at, choice);
    if (next !== null) return [choice, next];
  }
  return null;
}

function rangeIn(text: string): SpecExpression | null {
  const at = literal(text, 0, "<range-in>");
  const open = at === null ? null : oneOf(text, at, ["[", "("]);
  const low = open && atom(text, open[1]);
  const high = low && atom(text, low[1]);
  const close = high && oneOf(text, high[1], ["]", ")"]);
  if (!open || !low || !high || !close) return null;
  return { op: "<range-in>", args: [open[0], low[0], high[0], close[0]] };
}

function unary(text: string): SpecExpression | null {
  for (const op of UNARY_OPERATORS) {
    const at = literal(text, 0, op);
    if (at === null) continue;
    // MatchFirst commits to the first operator that matches, even if no atom follows.
    const value = atom(text, at);
    return value ? { op, args: [value[0]] } : null;
  }
  return null;
}

/** Parses a spec; null when pyparsing would raise `ParseException`. */
export function parseSpec(spec: string): SpecExpression | null {
  const parsed = disjunction(spec) ?? allIn(spec) ?? rangeIn(spec) ?? unary(spec);
  if (parsed) return parsed;
  const value = atom(spec, 0);
  return value ? { op: null, args: [value[0]] } : null;
}

/** Python's `float()` for the strings that can appear here; null when it would raise. */
export function toFloat(value: string | number): number | null {
  if (typeof value === "number") return value;
  const text = value.trim().toLowerCase();
  if (/^[+-]?(inf|infinity)$/.test(text)) return text.startsWith("-") ? -Infinity : Infinity;
  if (/^[+-]?nan$/.test(text)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(text)) return null;
  return Number(text);
}

function compareNumbers(op: string, x: number, y: number): boolean {
  switch (op) {
    case "==":
      return x === y;
    case "!=":
      return x !== y;
    case "<":
      return x < y;
    case "<=":
      return x <= y;
    case ">":
      return x > y;
    default: // ">=" and the legacy "="
      return x >= y;
  }
}

function compareStrings(op: string, x: string, y: string): boolean {
  switch (op) {
    case "s==":
      return x === y;
    case "s!=":
      return x !== y;
    case "s<":
      return x < y;
    case "s<=":
      return x <= y;
    case "s>":
      return x > y;
    default: // "s>="
      return x >= y;
  }
}

/** Whether `value` lies in `[ low high )` style bounds (`[`/`]` inclusive, `(`/`)` exclusive). */
function inRange(value: number, args: readonly string[]): boolean {
  const [open, lowText, highText, close] = args;
  const low = toFloat(lowText ?? "");
  const high = toFloat(highText ?? "");
  if (low === null || high === null) return false;
  const aboveLow = open === "[" ? value >= low : value > low;
  const belowHigh = close === "]" ? value <= high : value < high;
  return aboveLow && belowHigh;
}

/**
 * `specs_matcher.match(value, spec)`. Python raises where a numeric operator meets a string
 * that is not a number (or a string operator meets a float); those cases simply do not match.
 */
export function matchSpec(value: string | number, spec: SpecExpression): boolean {
  const { op, args } = spec;
  const first = args[0] ?? "";
  if (op === null) return typeof value === "string" && value === first;
  if (NUMERIC_OPERATORS.has(op)) {
    const x = toFloat(value);
    const y = toFloat(first);
    return x !== null && y !== null && compareNumbers(op, x, y);
  }
  if (op === "<range-in>") {
    const x = toFloat(value);
    return x !== null && inRange(x, args);
  }
  // The remaining operators compare strings; a float (the size) never equals a string in Python.
  if (typeof value !== "string") return false;
  if (op === "<in>") return value.includes(first);
  if (op === "<or>") return args.some((a) => a === value);
  if (op === "<all-in>") return args.every((a) => value.includes(a));
  return compareStrings(op, value, first);
}
