/** Small helpers shared by the end-to-end harness: ports, sleeping, waiting, log tails. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it holds; throws naming `what` after `ms`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms: number,
  what: string,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export interface ToolOptions {
  cwd?: string;
  /** Added to the environment. */
  env?: Record<string, string>;
  /** Killed after this; 60 s. */
  timeoutMs?: number;
}

/**
 * Runs a host tool for a test's own set-up or checks (never the agent's work) and returns its
 * stdout; throws with the command line, exit code and stderr when it fails.
 */
export async function tool(
  cmd: string,
  args: readonly string[],
  options: ToolOptions = {},
): Promise<string> {
  return (await toolStatus(cmd, args, [0], options))[1];
}

/**
 * `tool` for a command whose exit code is an answer (`mdadm --examine`: 1 when there is no
 * superblock): any code in `okCodes` is a result; returns the code and stdout.
 */
export async function toolStatus(
  cmd: string,
  args: readonly string[],
  okCodes: readonly number[],
  options: ToolOptions = {},
): Promise<[number, string]> {
  const out = await new Deno.Command(cmd, {
    args: [...args],
    cwd: options.cwd,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).output();
  const text = new TextDecoder();
  if (!okCodes.includes(out.code)) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${out.code}: ${text.decode(out.stderr)}`);
  }
  return [out.code, text.decode(out.stdout)];
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** The last `lines` lines of a text file, or a note when it cannot be read. */
export async function readTail(path: string, lines: number): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    const all = text.split("\n");
    return all.slice(Math.max(0, all.length - lines - 1)).join("\n");
  } catch (err) {
    return `(cannot read "${path}": ${(err as Error).message})\n`;
  }
}

/** Writes diagnostics to stderr (the lint config forbids `console`). */
export function printDiagnostics(text: string): void {
  const bytes = new TextEncoder().encode(text.endsWith("\n") ? text : `${text}\n`);
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/** Prints a labelled tail of each file. */
export async function printTails(
  files: readonly { label: string; path: string }[],
  lines = 150,
): Promise<void> {
  for (const { label, path } of files) {
    printDiagnostics(`\n===== ${label}: last ${lines} lines of ${path} =====`);
    printDiagnostics(await readTail(path, lines));
  }
}

/** A process spawned by `spawnGroup`: the leader of its own process group. */
export interface GroupLeader {
  readonly pid: number;
  /** Resolves when the leader ends. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Whether the leader has ended. */
  readonly exited: boolean;
}

/**
 * Spawns `argv` as the leader of a new process group (`stopGroup` stops it with its children),
 * stdin from /dev/null, stdout and stderr appended to `logFile` (opened by `sh`, so nothing of
 * it stays open in the test).
 */
export function spawnGroup(
  argv: readonly string[],
  options: { logFile: string; cwd?: string; env?: Record<string, string> },
): GroupLeader {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'exec "$@" >>"$0" 2>&1', options.logFile, ...argv],
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    pid: child.pid,
    status,
    get exited() {
      return exited;
    },
  };
}

/** Stops a process group by its leader's PID: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopGroup(
  leader: { pid: number; status: Promise<Deno.CommandStatus> },
  options: { graceMs: number },
): Promise<Deno.CommandStatus> {
  const { pid, status } = leader;
  function signal(sig: Deno.Signal) {
    try {
      Deno.kill(-pid, sig);
    } catch {
      // The group is already gone.
    }
  }
  signal("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), options.graceMs);
  });
  const first = await Promise.race([status, timedOut]);
  clearTimeout(timer);
  // Children that ignored SIGTERM (or outlived the leader) get SIGKILL either way.
  signal("SIGKILL");
  return first ?? await status;
}
