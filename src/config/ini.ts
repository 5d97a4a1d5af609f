/**
 * INI parser with oslo.config's rules, so an existing ironic-python-agent config file reads the
 * same here as in IPA (`oslo_config/iniparser.py`):
 *
 * - `[section]` headers; `DEFAULT` is kept as is, other section names are lower-cased.
 * - `key = value` or `key: value`, split at whichever of `=` and `:` comes first; key and value
 *   are trimmed; a value wrapped in matching `"` or `'` quotes loses them.
 * - Lines starting with `#` or `;` are comments; there are no inline comments (`a = 1 # x` has the
 *   value `1 # x`).
 * - An indented line continues the previous value (joined with "\n"); a blank line ends it.
 * - A later duplicate key in the same section wins.
 *
 * Where oslo.config would reject a file we are a little kinder: an indented comment is a comment
 * (oslo appends it to the value or fails) and an indented line with no value to continue is read
 * as an ordinary line.
 */

/** Section name → key → value, in file order. */
export type IniDocument = Record<string, Record<string, string>>;

interface PendingValue {
  section: Record<string, string>;
  key: string;
  lines: string[];
}

/**
 * Parses INI text. Throws `SyntaxError` naming the line number; the message never repeats the
 * line itself, which may hold a secret.
 */
export function parseIni(text: string): IniDocument {
  const doc: IniDocument = {};
  let section: Record<string, string> | null = null;
  let pending: PendingValue | null = null;
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const lineNo = index + 1;
    const line = raw.trimEnd();
    const trimmed = line.trimStart();
    if (trimmed.startsWith("#") || trimmed.startsWith(";")) {
      // Only an unindented comment ends a multi-line value, as in oslo.config.
      if (line === trimmed) pending = flush(pending);
      continue;
    }
    if (trimmed === "") {
      pending = flush(pending);
      continue;
    }
    if (line !== trimmed && pending !== null) {
      pending.lines.push(trimmed);
      continue;
    }
    pending = flush(pending);
    if (trimmed.startsWith("[")) {
      const name = sectionName(trimmed, lineNo);
      section = doc[name] ??= {};
      continue;
    }
    if (section === null) {
      throw new SyntaxError(`line ${lineNo}: option before the first [section] header`);
    }
    const [key, value] = splitAssignment(trimmed, lineNo);
    pending = { section, key, lines: [value] };
  }
  flush(pending);
  return doc;
}

/** Stores a finished (possibly multi-line) value; returns the new, empty pending state. */
function flush(pending: PendingValue | null): null {
  if (pending !== null) pending.section[pending.key] = unquote(pending.lines.join("\n"));
  return null;
}

function sectionName(line: string, lineNo: number): string {
  if (!line.endsWith("]")) throw new SyntaxError(`line ${lineNo}: section header lacks "]"`);
  const name = line.slice(1, -1).trim();
  if (name === "") throw new SyntaxError(`line ${lineNo}: empty section name`);
  // oslo.config treats group names case-insensitively, except the special DEFAULT group.
  return name === "DEFAULT" ? name : name.toLowerCase();
}

function splitAssignment(line: string, lineNo: number): [string, string] {
  const equal = line.indexOf("=");
  const colon = line.indexOf(":");
  const at = equal < 0 ? colon : colon < 0 ? equal : Math.min(equal, colon);
  if (at < 0) throw new SyntaxError(`line ${lineNo}: expected "key = value"`);
  const key = line.slice(0, at).trim();
  if (key === "") throw new SyntaxError(`line ${lineNo}: empty option name`);
  return [key, line.slice(at + 1).trim()];
}

function unquote(value: string): string {
  const first = value[0];
  if (value.length >= 2 && (first === '"' || first === "'") && value.endsWith(first)) {
    return value.slice(1, -1);
  }
  return value;
}
