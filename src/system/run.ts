/**
 * The only place that starts subprocesses. Everything else takes a `Runner`, so unit tests
 * pass a fake that replays recorded tool output and records the commands issued.
 *
 * Every call has a timeout (a hung tool is killed), runs with `LC_ALL=C`, and a non-zero exit
 * (outside `okCodes`) throws a `ToolError` carrying the command line, exit code and stderr.
 */
import { CommandExecutionError } from "../api/errors.ts";
import { log } from "../log.ts";

export interface RunOptions {
  /** Bytes or text fed to stdin. */
  input?: Uint8Array | string;
  /** Kill the tool after this long (default 5 minutes). */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Exit codes that count as success (default `[0]`). */
  okCodes?: readonly number[];
  /** Abort the tool (e.g. agent shutdown). */
  signal?: AbortSignal;
  /** `pipe` only: hand stdout to the caller as a stream (decompressors) instead of collecting it. */
  streamStdout?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A process whose stdin the caller streams into (image writes). */
export interface PipedProcess {
  readonly stdin: WritableStream<Uint8Array>;
  /** Standard output, when `streamStdout` was set (`done` then carries an empty stdout). */
  readonly stdout?: ReadableStream<Uint8Array>;
  /** Settles when the process exits; rejects like `run` on failure or timeout. */
  readonly done: Promise<RunResult>;
  /** Kills the process. */
  kill(): void;
}

export interface Runner {
  run(cmd: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  pipe(cmd: string, args: readonly string[], options?: RunOptions): PipedProcess;
}

export const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;

/** A tool exited with a code outside `okCodes`, timed out, or could not start. */
export class ToolError extends CommandExecutionError {
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly stdout: string;

  constructor(
    init: { command: string; exitCode: number | null; stderr: string; stdout?: string },
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`Command "${init.command}" ${reason}`, options);
    this.command = init.command;
    this.exitCode = init.exitCode;
    this.stderr = init.stderr;
    this.stdout = init.stdout ?? "";
  }
}

/** Renders a command line for logs and errors (arguments with spaces quoted). */
export function commandLine(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ");
}

/** Seconds a timed-out or aborted tool gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * Deno's `signal` option only sends SIGTERM; a tool that ignores it (a hung `dd` in D state
 * aside) would outlive its timeout. Escalate to SIGKILL after a grace period.
 */
function killAfterGrace(child: Deno.ChildProcess, signal: AbortSignal): void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const escalate = () => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
    }, KILL_GRACE_MS);
  };
  signal.addEventListener("abort", escalate, { once: true });
  child.status.finally(() => {
    clearTimeout(timer);
    signal.removeEventListener("abort", escalate);
  });
}

/** A started tool, with what its exit check needs. */
interface Spawned {
  child: Deno.ChildProcess;
  line: string;
  timeout: AbortSignal;
  timeoutMs: number;
  okCodes: readonly number[];
}

function spawn(
  cmd: string,
  args: readonly string[],
  options: RunOptions,
  stdin: "piped" | "null",
): Spawned {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const line = commandLine(cmd, args);
  log.debug("running tool", { command: line });
  try {
    const child = new Deno.Command(cmd, {
      args: [...args],
      env: { LC_ALL: "C", LANG: "C", ...options.env },
      stdin,
      stdout: "piped",
      stderr: "piped",
      signal,
    }).spawn();
    killAfterGrace(child, signal);
    return { child, line, timeout, timeoutMs, okCodes: options.okCodes ?? [0] };
  } catch (err) {
    throw new ToolError({ command: line, exitCode: null, stderr: "" }, `could not start: ${err}`, {
      cause: err,
    });
  }
}

/** The tool's result, or a `ToolError` when it failed, timed out or was killed. */
function checkExit(
  { line, timeout, timeoutMs, okCodes }: Spawned,
  status: Deno.CommandStatus,
  stdout: string,
  stderr: string,
): RunResult {
  const { code } = status;
  if (okCodes.includes(code) && status.signal === null) return { code, stdout, stderr };
  const reason = timeout.aborted
    ? `timed out after ${timeoutMs / 1000} s and was killed`
    : `exited with code ${code}${stderr.trim() ? `: ${stderr.trim().slice(0, 2000)}` : ""}`;
  throw new ToolError({ command: line, exitCode: code, stderr, stdout }, reason);
}

async function finish(spawned: Spawned): Promise<RunResult> {
  const out = await spawned.child.output();
  const decoder = new TextDecoder();
  return checkExit(spawned, out, decoder.decode(out.stdout), decoder.decode(out.stderr));
}

/** Like `finish`, for a child whose stdout the caller reads. */
async function finishStreamed(spawned: Spawned): Promise<RunResult> {
  const [status, stderr] = await Promise.all([
    spawned.child.status,
    new Response(spawned.child.stderr).text(),
  ]);
  return checkExit(spawned, status, "", stderr);
}

/** The real runner, backed by `Deno.Command`. */
export const systemRunner: Runner = {
  async run(cmd, args, options = {}) {
    const input = options.input;
    const spawned = spawn(cmd, args, options, input === undefined ? "null" : "piped");
    if (input !== undefined) {
      const writer = spawned.child.stdin.getWriter();
      try {
        await writer.write(typeof input === "string" ? new TextEncoder().encode(input) : input);
        await writer.close();
      } catch {
        // The tool exited without reading all of stdin; its exit status tells what happened.
      }
    }
    return await finish(spawned);
  },

  pipe(cmd, args, options = {}) {
    const spawned = spawn(cmd, args, options, "piped");
    const { child } = spawned;
    return {
      stdin: child.stdin,
      stdout: options.streamStdout ? child.stdout : undefined,
      done: options.streamStdout ? finishStreamed(spawned) : finish(spawned),
      kill() {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already exited.
        }
      },
    };
  },
};
