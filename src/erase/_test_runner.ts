/**
 * A scripted `Runner` for unit tests of the disk code: each command line is answered by a
 * handler with recorded output, and every command issued is recorded in `calls`.
 * Exit codes outside `okCodes` throw a `ToolError`, as the real runner does.
 */
import { type Runner, type RunOptions, type RunResult, ToolError } from "../system/run.ts";

/** Stdout text, a full result, or an error to throw. */
export type Reply = string | Partial<RunResult> | Error;
export type Handler = (line: string, cmd: string, args: readonly string[]) => Reply | undefined;

export interface FakeRunner extends Runner {
  readonly calls: string[];
}

/**
 * Answers for the sysfs helpers when a test has nothing recorded: files and links absent, and
 * no partition table on disk for `partx`.
 */
export function emptySysfs(_line: string, cmd: string): Reply | undefined {
  if (cmd === "grep") return { code: 2, stdout: "" };
  if (cmd === "find") return { code: 1, stdout: "" };
  if (cmd === "readlink") return { code: 1, stdout: "" };
  if (cmd === "udevadm") return "";
  if (cmd === "partx") return { code: 1, stdout: "" }; // no partition table
  return undefined;
}

export function fakeRunner(...handlers: Handler[]): FakeRunner {
  const calls: string[] = [];
  async function run(cmd: string, args: readonly string[], options: RunOptions = {}) {
    const line = [cmd, ...args].join(" ");
    calls.push(line);
    await Promise.resolve();
    let reply: Reply | undefined;
    for (const handler of handlers) {
      reply = handler(line, cmd, args);
      if (reply !== undefined) break;
    }
    if (reply === undefined) {
      throw new ToolError({ command: line, exitCode: 127, stderr: "" }, "has no fake answer");
    }
    if (reply instanceof Error) throw reply;
    const result: RunResult = typeof reply === "string"
      ? { code: 0, stdout: reply, stderr: "" }
      : { code: reply.code ?? 0, stdout: reply.stdout ?? "", stderr: reply.stderr ?? "" };
    if (!(options.okCodes ?? [0]).includes(result.code)) {
      throw new ToolError(
        { command: line, exitCode: result.code, stderr: result.stderr, stdout: result.stdout },
        `exited with code ${result.code}: ${result.stderr}`,
      );
    }
    return result;
  }
  return {
    calls,
    run,
    pipe() {
      throw new Error("pipe() is not scripted in this fake");
    },
  };
}

/** Reads a file of `testdata/` (relative to the repository root). */
export function testdata(path: string): string {
  return Deno.readTextFileSync(new URL(`../../testdata/${path}`, import.meta.url));
}
