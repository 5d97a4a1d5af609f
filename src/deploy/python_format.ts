/**
 * The small part of Python's `str.format` that `inject_files` URLs use (spec 08 §12): IPA calls
 * `content.format(node=node, ports=ports)`, so a deploy template can name node-specific files
 * (`http://server/{node[uuid]}/ssh.pub`, `{node[properties][cpu_arch]}`,
 * `{ports[0][address]}`).
 *
 * Only `{node[...]...}` and `{ports[...]...}` fields with item lookups are accepted, plus the
 * `{{` / `}}` escapes. Attribute access (`{node.uuid}`), conversions (`!r`), format specs
 * (`:>8`), positional fields and anything else Python would accept are refused: they either
 * fail in IPA too or let a template reach beyond plain data. A key made of digits is a list
 * index, as in Python. Values print as Python's `str()` would for scalars (`None`, `True`);
 * objects and lists are refused rather than printed as Python reprs inside a URL.
 */
import { InvalidCommandParamsError } from "../api/errors.ts";

/** One replacement field: the root name and the item keys after it. */
export interface FormatField {
  /** The field as written, without braces: `node[uuid]`. */
  readonly text: string;
  readonly root: "node" | "ports";
  readonly keys: readonly string[];
}

export type TemplatePart = string | FormatField;

const FIELD = /^(node|ports)((?:\[[^\][{}]+\])+)$/;

function refuse(template: string, reason: string): never {
  throw new InvalidCommandParamsError(
    `Cannot expand the inject_files URL ${JSON.stringify(template)}: ${reason}`,
  );
}

function parseField(template: string, text: string): FormatField {
  const match = FIELD.exec(text);
  if (!match) {
    refuse(
      template,
      `placeholder {${text}} is not supported; use {node[key]...} or {ports[index][key]...}`,
    );
  }
  const keys = [...match[2]!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
  return { text, root: match[1] as "node" | "ports", keys };
}

/** Splits `template` into literal text and fields; throws `InvalidCommandParamsError`. */
export function parseTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let literal = "";
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c === "{" && template[i + 1] === "{") {
      literal += "{";
      i += 2;
    } else if (c === "}" && template[i + 1] === "}") {
      literal += "}";
      i += 2;
    } else if (c === "}") {
      refuse(template, `single "}" at offset ${i}; write "}}" for a literal brace`);
    } else if (c === "{") {
      const end = template.indexOf("}", i + 1);
      if (end < 0) refuse(template, `unclosed "{" at offset ${i}`);
      const text = template.slice(i + 1, end);
      if (text.includes("{")) refuse(template, `nested "{" in placeholder {${text}}`);
      if (literal) parts.push(literal);
      literal = "";
      parts.push(parseField(template, text));
      i = end + 1;
    } else {
      literal += c;
      i += 1;
    }
  }
  if (literal) parts.push(literal);
  return parts;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Python's `str()` of a JSON scalar; null for values this formatter will not print. */
function pythonStr(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return value ? "True" : "False";
  if (value === null) return "None";
  return null;
}

function lookup(template: string, field: FormatField, roots: FormatRoots): string {
  let value: unknown = roots[field.root];
  let where: string = field.root;
  for (const key of field.keys) {
    if (Array.isArray(value)) {
      const index = /^\d+$/.test(key) ? Number(key) : NaN;
      if (!(index < value.length)) {
        refuse(template, `{${field.text}}: ${where} has no item ${key} (length ${value.length})`);
      }
      value = value[index];
    } else if (isPlainObject(value)) {
      if (!Object.hasOwn(value, key)) {
        refuse(template, `{${field.text}}: ${where} has no key "${key}"`);
      }
      value = value[key];
    } else {
      refuse(template, `{${field.text}}: ${where} is not an object or a list`);
    }
    where += `[${key}]`;
  }
  const text = pythonStr(value);
  if (text === null) {
    refuse(template, `{${field.text}} is an object or a list, not a printable value`);
  }
  return text;
}

/** The values a template may refer to. */
export interface FormatRoots {
  node: unknown;
  ports: unknown;
}

/** `template.format(node=node, ports=ports)`, restricted as described above. */
export function formatTemplate(template: string, roots: FormatRoots): string {
  return parseTemplate(template)
    .map((part) => typeof part === "string" ? part : lookup(template, part, roots))
    .join("");
}
