/**
 * The one logger. Lines go to stderr as `<time> <LEVEL> <message> key=value ...`.
 * Secrets registered with `addSecret` (the agent token, passwords) are replaced by `***`
 * in every line, whatever field or message carries them, so no caller can leak them.
 */

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const secrets = new Set<string>();
/** The last lines logged, for `log.collect_system_logs` (already redacted). */
const RECENT_MAX = 5000;
const recent: string[] = [];
let minLevel: Level = "info";
let sink: (line: string) => void = (line) => {
  Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
};

/** Never print `value` in a log line again (token, password). Short values are ignored. */
export function addSecret(value: string | null | undefined): void {
  if (value && value.length >= 4 && value !== "******") secrets.add(value);
}

export function setLevel(level: Level): void {
  minLevel = level;
}

/** Replaces where lines go; returns a function restoring the previous sink (for tests). */
export function setSink(next: (line: string) => void): () => void {
  const previous = sink;
  sink = next;
  return () => {
    sink = previous;
  };
}

/** The agent's recent log lines, oldest first. */
export function recentLines(): readonly string[] {
  return recent;
}

/** Masks registered secrets and any `agent_token=` query value. */
export function redact(text: string): string {
  let out = text.replace(/(agent_token=)[^&\s"']*/g, "$1***");
  for (const secret of secrets) out = out.replaceAll(secret, "***");
  return out;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") return /[\s"=]/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

export class Logger {
  readonly #fields: Fields;

  constructor(fields: Fields = {}) {
    this.#fields = fields;
  }

  /** A logger that adds `fields` (command id, step, device) to every line. */
  with(fields: Fields): Logger {
    return new Logger({ ...this.#fields, ...fields });
  }

  debug(message: string, fields?: Fields): void {
    this.#write("debug", message, fields);
  }
  info(message: string, fields?: Fields): void {
    this.#write("info", message, fields);
  }
  warn(message: string, fields?: Fields): void {
    this.#write("warn", message, fields);
  }
  error(message: string, fields?: Fields): void {
    this.#write("error", message, fields);
  }

  #write(level: Level, message: string, fields?: Fields): void {
    if (LEVELS[level] < LEVELS[minLevel]) return;
    const all = { ...this.#fields, ...fields };
    const parts = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${formatValue(v)}`);
    const line = [new Date().toISOString(), level.toUpperCase(), message, ...parts].join(" ");
    const safe = redact(line);
    recent.push(safe);
    if (recent.length > RECENT_MAX) recent.splice(0, recent.length - RECENT_MAX);
    sink(safe);
  }
}

/** The root logger. */
export const log = new Logger();
