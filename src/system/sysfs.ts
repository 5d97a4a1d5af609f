/**
 * The only place that reads /proc and /sys (and resolves links under /dev).
 *
 * Deno asks for `--allow-all` before it opens anything under /dev, /proc or /sys (measured with
 * Deno 2.9: even `--allow-read=/proc/cmdline` is refused). Rather than give the whole agent
 * `--allow-all`, these reads go through small tools (`cat`, `grep`, `find`, `readlink`) run by the
 * injected `Runner`, which is granted by name. Tests fake the runner.
 */
import type { Runner } from "./run.ts";

/** Contents of one file, or null when it cannot be read. */
export async function readSystemFile(runner: Runner, path: string): Promise<string | null> {
  try {
    return (await runner.run("cat", ["--", path], { timeoutMs: 10_000 })).stdout;
  } catch {
    return null; // Absent or unreadable files are normal in sysfs (no `device` link, no vendor).
  }
}

/**
 * Contents of many small files in one process: `grep -H ''` prints `<path>:<line>` for each line.
 * Unreadable files are absent from the map. Paths may contain ":" (PCI addresses): each line is
 * matched against the requested paths rather than split at its first colon.
 */
export async function readSystemFiles(
  runner: Runner,
  paths: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (paths.length === 0) return out;
  const result = await runner.run("grep", ["-s", "-H", "-e", "", "--", ...paths], {
    timeoutMs: 10_000,
    okCodes: [0, 1, 2],
  });
  const requested = new Set(paths);
  for (const line of result.stdout.split("\n")) {
    let colon = line.indexOf(":");
    while (colon >= 0 && !requested.has(line.slice(0, colon))) colon = line.indexOf(":", colon + 1);
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    const prev = out.get(path);
    out.set(path, prev === undefined ? line.slice(colon + 1) : `${prev}\n${line.slice(colon + 1)}`);
  }
  return out;
}

/** Entry names of a directory (sorted), or [] when it does not exist. */
export async function listDirectory(runner: Runner, dir: string): Promise<string[]> {
  const result = await runner.run(
    "find",
    [dir, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\\n"],
    { timeoutMs: 10_000, okCodes: [0, 1] },
  );
  return result.stdout.split("\n").filter((name) => name !== "").sort();
}

/**
 * The canonical target of a link, or null when it does not resolve. `-e`, not `-f`: `-f` prints a
 * path even when the last component is missing (`/sys/class/net/ifb0/device` of a virtual NIC).
 */
export async function resolveLink(runner: Runner, path: string): Promise<string | null> {
  const result = await runner.run("readlink", ["-e", "--", path], {
    timeoutMs: 10_000,
    okCodes: [0, 1],
  });
  const target = result.stdout.trim();
  return result.code === 0 && target !== "" ? target : null;
}

/** Whether a path exists (`find` prints nothing for a missing path). */
export async function pathExists(runner: Runner, path: string): Promise<boolean> {
  const result = await runner.run("find", [path, "-maxdepth", "0"], {
    timeoutMs: 10_000,
    okCodes: [0, 1],
  });
  return result.stdout.trim() !== "";
}
