/**
 * Runs commands one at a time and keeps their results in creation order (spec 02 §6, §8).
 *
 * A POST is validated under one lock so two POSTs never interleave; a POST while the last command
 * is RUNNING gets 409. Async commands are recorded as RUNNING *before* the POST is answered, so a
 * conductor that lost the answer finds the command in `GET /v1/commands/` (spec 11 §1).
 */
import { z } from "zod";
import {
  AgentError,
  AgentIsBusy,
  CommandExecutionError,
  type ErrorObject,
  InvalidCommandError,
  InvalidCommandParamsError,
  NotFound,
  RequestedObjectNotFoundError,
  toAgentError,
  VersionMismatch,
} from "../api/errors.ts";
import { log as rootLog, type Logger } from "../log.ts";
import type { CommandRegistry, CommandSpec } from "./registry.ts";

export type CommandStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "CLEAN_VERSION_MISMATCH";

/** The command-result object of spec 02 §6.4. */
export interface CommandResultJson {
  id: string;
  command_name: string;
  command_status: CommandStatus;
  command_error: ErrorObject | null;
  command_result: unknown;
}

export class CommandRecord {
  readonly id: string = crypto.randomUUID();
  readonly name: string;
  readonly createdAt: number = Date.now();
  status: CommandStatus = "RUNNING";
  error: ErrorObject | null = null;
  result: unknown = null;
  /** Latest progress report of a running command (not part of the IPA wire shape). */
  progress: Record<string, unknown> | null = null;
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor(shortName: string) {
    this.name = shortName;
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }

  succeed(result: unknown): void {
    // A record is settled once: a command that ends after it was interrupted claims nothing.
    if (this.status !== "RUNNING") return;
    this.status = "SUCCEEDED";
    this.result = result;
    this.#resolve();
  }

  fail(err: AgentError): void {
    if (this.status !== "RUNNING") return;
    this.status = err instanceof VersionMismatch ? "CLEAN_VERSION_MISMATCH" : "FAILED";
    this.error = err.toErrorObject();
    this.result = null;
    this.#resolve();
  }

  toJSON(): CommandResultJson {
    return {
      id: this.id,
      command_name: this.name,
      command_status: this.status,
      command_error: this.error,
      command_result: this.result,
    };
  }
}

export interface ExecutorOptions {
  registry: CommandRegistry;
  log?: Logger;
  /** Called whenever an async command finishes (forces an early heartbeat, spec 01 §6). */
  onAsyncDone?: (record: CommandRecord) => void;
  /** Aborted when the agent shuts down; passed to every command. */
  signal?: AbortSignal;
}

/** Normalises a command's return value (spec 02 §6.4). */
function normaliseResult(value: unknown, shortName: string, isAsync: boolean): unknown {
  if (typeof value === "string") return { result: isAsync ? `${shortName}: ${value}` : value };
  return value ?? null;
}

/** Names the offending parameter(s) of a zod failure: `params.image_info.urls: ...`. */
export function describeIssues(error: z.ZodError, prefix: string): string {
  return error.issues
    .map((issue) => {
      const path = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
      return `${path}: ${issue.message}`;
    })
    .join("; ");
}

export class CommandExecutor {
  readonly #registry: CommandRegistry;
  readonly #log: Logger;
  readonly #onAsyncDone: (record: CommandRecord) => void;
  readonly #signal: AbortSignal;
  readonly #records: CommandRecord[] = [];
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: ExecutorOptions) {
    this.#registry = options.registry;
    this.#log = options.log ?? rootLog;
    this.#onAsyncDone = options.onAsyncDone ?? (() => {});
    this.#signal = options.signal ?? new AbortController().signal;
    this.#signal.addEventListener("abort", () => this.#interrupt(), { once: true });
  }

  /**
   * The agent is shutting down (SIGTERM): a command still running is recorded as FAILED at once,
   * so neither the log nor a late result can claim it succeeded.
   */
  #interrupt(): void {
    const record = this.running();
    if (!record) return;
    const reason = String(this.#signal.reason ?? "shutdown");
    record.fail(
      new CommandExecutionError(`Command interrupted: the agent is shutting down (${reason})`),
    );
    this.#log.with({ command: record.name, command_id: record.id }).error(
      "command interrupted by shutdown",
      { status: record.status, reason },
    );
  }

  /** Every result, oldest first. Never pruned (spec 02 §6.2). */
  list(): readonly CommandRecord[] {
    return this.#records;
  }

  get(id: string): CommandRecord {
    const record = this.#records.find((r) => r.id === id);
    if (!record) throw new RequestedObjectNotFoundError(`Command Result with id ${id} not found.`);
    return record;
  }

  /** The last command, if it is still running. */
  running(): CommandRecord | null {
    const last = this.#records.at(-1);
    return last?.status === "RUNNING" ? last : null;
  }

  /**
   * Validates and starts `name`; resolves with the record once it is recorded (async commands)
   * or finished (sync commands). Throws an `AgentError` for the 4xx cases of spec 03 §10.
   */
  execute(name: string, params: Record<string, unknown>): Promise<CommandRecord> {
    const next = this.#lock.then(() => this.#start(name, params));
    this.#lock = next.catch(() => {});
    return next;
  }

  async #start(name: string, rawParams: Record<string, unknown>): Promise<CommandRecord> {
    const dot = name.indexOf(".");
    if (dot < 0) {
      throw new InvalidCommandError(
        `Command name must be of the form <extension>.<name>, got "${name}"`,
      );
    }
    const extension = name.slice(0, dot);
    const shortName = name.slice(dot + 1);
    const busy = this.running();
    if (busy) throw new AgentIsBusy(`executing command ${busy.name}`);
    if (!this.#registry.hasExtension(extension)) {
      throw new NotFound(`Extension with id ${extension} not found.`);
    }
    const spec = this.#registry.get(extension, shortName);
    if (!spec) throw new InvalidCommandError(`Unknown command: ${shortName}`);
    const params = this.#validate(spec, rawParams);

    const record = new CommandRecord(shortName);
    const log = this.#log.with({ command: name, command_id: record.id });
    this.#records.push(record);
    log.info("command started", { async: spec.async });
    const running = this.#run(spec, params, record, log);
    if (spec.async) {
      running.then(() => this.#onAsyncDone(record));
    } else {
      await running;
    }
    return record;
  }

  #validate(spec: CommandSpec, raw: Record<string, unknown>): Record<string, unknown> {
    const parsed = spec.params.safeParse(raw);
    if (!parsed.success) {
      throw new InvalidCommandParamsError(
        `Invalid parameters for command ${spec.name}: ${describeIssues(parsed.error, "params")}`,
      );
    }
    try {
      spec.validate?.(parsed.data);
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw new InvalidCommandParamsError(`${spec.name}: ${err}`, { cause: err });
    }
    return parsed.data;
  }

  async #run(
    spec: CommandSpec,
    params: Record<string, unknown>,
    record: CommandRecord,
    log: Logger,
  ): Promise<void> {
    const started = performance.now();
    try {
      const value = await spec.run(params, {
        id: record.id,
        log,
        signal: this.#signal,
        progress: (report) => (record.progress = report),
      });
      if (record.status !== "RUNNING") return; // interrupted meanwhile; already reported
      record.succeed(normaliseResult(value, record.name, spec.async));
      log.info("command succeeded", { seconds: ((performance.now() - started) / 1000).toFixed(3) });
    } catch (err) {
      const error = toAgentError(
        err,
        (details, cause) => new CommandExecutionError(details, { cause }),
      );
      if (record.status !== "RUNNING") return;
      record.fail(error);
      log.error("command failed", { status: record.status, error: error.message });
    }
  }
}
