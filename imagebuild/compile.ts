/**
 * `deno task compile`: the agent as one executable, by a real `deno compile` with the grants of
 * deno.json's `agent` permission set baked in (no `-A`).
 *
 *   deno task compile [--output PATH] [--app-dir DIR]
 *
 * `deno compile` needs its runtime, `denort`, which it downloads from dl.deno.land unless
 * `DENORT_BIN` names a local copy. No npm package ships `denort`, and the `deno` CLI itself is
 * not one (an executable built on it opens the REPL), so offline this fails and says how to
 * fix it; the ramdisk build then carries the bundle and launcher of bundle.ts instead.
 *
 * `--app-dir` (default /opt/ipa) is where relative read/write grants ("./") point, as in the image.
 */
import { grantFlags, narrowRunGrant, readPermissionSet, resolveUnder, toolIn } from "./grants.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const DENORT_URL_HINT =
  `https://dl.deno.land/release/v${Deno.version.deno}/denort-x86_64-unknown-linux-gnu.zip`;

/** Why `denort` at `path` cannot be used, or null when it looks usable. */
export async function denortProblem(path: string, denoCli: string): Promise<string | null> {
  let info;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    return `DENORT_BIN="${path}" cannot be read: ${(err as Error).message}`;
  }
  if (!info.isFile) return `DENORT_BIN="${path}" is not a file`;
  if (((info.mode ?? 0) & 0o111) === 0) return `DENORT_BIN="${path}" is not executable`;
  if (await Deno.realPath(path) === await Deno.realPath(denoCli)) {
    return `DENORT_BIN="${path}" is the deno CLI, not denort: the executable would open ` +
      `the REPL instead of the agent`;
  }
  return null;
}

/** The `deno compile` arguments: the grants, offline-friendly flags and the entry point. */
export function compileArgs(flags: readonly string[], output: string): string[] {
  return ["compile", "--no-prompt", "--no-check", ...flags, "--output", output, "main.ts"];
}

async function main(argv: string[]): Promise<number> {
  let output = `${ROOT}imagebuild/out/ipa-agent`;
  let appDir = "/opt/ipa";
  let toolsRoot: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === "--output" && value) [output, i] = [value, i + 1];
    else if (argv[i] === "--app-dir" && value?.startsWith("/")) [appDir, i] = [value, i + 1];
    else if (argv[i] === "--tools-root" && value) [toolsRoot, i] = [value, i + 1];
    else {
      throw new Error(
        `Unknown or incomplete argument "${argv[i]}"; usage: compile.ts [--output PATH] ` +
          `[--app-dir /ABSOLUTE/DIR] [--tools-root DIR]`,
      );
    }
  }
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    const problem = await denortProblem(denort, Deno.execPath());
    if (problem) throw new Error(`Cannot compile the agent: ${problem}`);
  }
  let set = await readPermissionSet(`${ROOT}deno.json`, "agent");
  if (toolsRoot !== undefined) {
    // Only the tools the image holds: Deno prints "Failed to resolve" for each missing one.
    const narrowed = narrowRunGrant(set, toolIn(toolsRoot));
    set = narrowed.set;
    if (narrowed.dropped.length > 0) {
      Deno.stderr.writeSync(
        new TextEncoder().encode(
          `compile.ts: not granting tools absent from the image: ${narrowed.dropped.join(" ")}\n`,
        ),
      );
    }
  }
  const args = compileArgs(grantFlags(set, resolveUnder(appDir)), output);
  await Deno.mkdir(output.replace(/\/[^/]*$/, "") || "/", { recursive: true });
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(10 * 60_000),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  Deno.stderr.writeSync(out.stderr);
  if (!out.success) {
    const runtime = /denort|dl\.deno\.land|base binary/i.test(stderr);
    throw new Error(
      runtime
        ? `Cannot compile the agent: deno compile could not get its runtime "denort" ` +
          `(${denort ? `DENORT_BIN="${denort}"` : "no DENORT_BIN, and downloading failed"}). ` +
          `Set DENORT_BIN to denort ${Deno.version.deno} ` +
          `(${DENORT_URL_HINT}), or use \`deno task build-ramdisk\`, which falls back to ` +
          `deno bundle plus a launcher with the same grants.`
        : `Cannot compile the agent: deno compile exited ${out.code}`,
    );
  }
  const size = (await Deno.stat(output)).size;
  Deno.stdout.writeSync(
    new TextEncoder().encode(`${output} (${(size / 1048576).toFixed(1)} MiB)\n`),
  );
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    Deno.stderr.writeSync(new TextEncoder().encode(`compile.ts: ${(err as Error).message}\n`));
    Deno.exit(1);
  }
}
