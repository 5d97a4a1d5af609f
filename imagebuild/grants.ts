/**
 * The agent's Deno permission grants as command-line flags, generated from the `agent`
 * permission set in deno.json. The compiled executable and the ramdisk's launcher both carry
 * these flags, so the list of tools and paths lives in one place (deno.json) and the image
 * cannot drift from what `deno task start` grants.
 */

/** Permission kinds a deno.json permission set may name, in flag order. */
const KINDS = ["net", "env", "sys", "read", "write", "run", "ffi", "import"] as const;
type Kind = typeof KINDS[number];

/** Kinds whose list entries are file paths (relative ones are relative to the app directory). */
const PATH_KINDS: ReadonlySet<Kind> = new Set(["read", "write", "ffi"]);

type Grant = boolean | string[];
export type PermissionSet = Partial<Record<Kind, Grant | { allow?: Grant; deny?: Grant }>>;

/** Reads permission set `name` from a deno.json file. */
export async function readPermissionSet(
  denoJsonPath: string,
  name: string,
): Promise<PermissionSet> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(denoJsonPath));
  } catch (err) {
    throw new Error(`Cannot read permission set "${name}" from "${denoJsonPath}": ${err}`);
  }
  const set = (parsed as { permissions?: Record<string, unknown> })?.permissions?.[name];
  if (set === undefined || set === null || typeof set !== "object" || Array.isArray(set)) {
    throw new Error(`Cannot read permission set "${name}": "${denoJsonPath}" has no such object`);
  }
  for (const key of Object.keys(set)) {
    if (!(KINDS as readonly string[]).includes(key)) {
      throw new Error(
        `Cannot read permission set "${name}": unknown permission "${key}" in "${denoJsonPath}"`,
      );
    }
  }
  return set as PermissionSet;
}

function checkGrant(kind: Kind, value: unknown): Grant | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string" && v !== "")) {
    return value;
  }
  throw new Error(
    `Cannot turn permission "${kind}" into a flag: expected true, false or a list of ` +
      `non-empty strings, got ${JSON.stringify(value)}`,
  );
}

/**
 * One flag per granted kind: `--allow-net`, `--allow-run=cat,grep`, `--deny-...`.
 * `resolvePath` maps a relative path entry ("./") to where the agent's files are installed.
 */
export function grantFlags(
  set: PermissionSet,
  resolvePath: (relative: string) => string,
): string[] {
  const flags: string[] = [];
  for (const kind of KINDS) {
    const raw = set[kind];
    const split = raw !== null && typeof raw === "object" && !Array.isArray(raw)
      ? raw
      : { allow: raw };
    for (const mode of ["allow", "deny"] as const) {
      const grant = checkGrant(kind, split[mode]);
      if (grant === undefined || grant === false) continue;
      if (grant === true) {
        flags.push(`--${mode}-${kind}`);
        continue;
      }
      if (grant.length === 0) continue;
      const values = grant.map((v) =>
        PATH_KINDS.has(kind) && !v.startsWith("/") ? resolvePath(v) : v
      );
      for (const v of values) {
        if (v.includes(",")) {
          throw new Error(`Cannot grant ${kind} "${v}": a comma cannot appear in a flag value`);
        }
      }
      flags.push(`--${mode}-${kind}=${values.join(",")}`);
    }
  }
  return flags;
}

/** Resolves a relative entry ("./", "./managers") against an absolute directory. */
export function resolveUnder(dir: string): (relative: string) => string {
  return (relative) => {
    const rest = relative.replace(/^\.\/?/, "").replace(/\/$/, "");
    return rest === "" ? dir : `${dir.replace(/\/$/, "")}/${rest}`;
  };
}

/**
 * `set` with its run grant narrowed to the tools `present` accepts, and the tools it dropped.
 * The image's launcher grants only the tools the image holds: Deno resolves every `--allow-run`
 * name at start-up and prints "Failed to resolve" on the console for each one it cannot find.
 */
export function narrowRunGrant(
  set: PermissionSet,
  present: (tool: string) => boolean,
): { set: PermissionSet; dropped: string[] } {
  const raw = set.run;
  const split = raw !== null && typeof raw === "object" && !Array.isArray(raw) ? raw : null;
  const allow = checkGrant("run", split ? split.allow : raw);
  if (!Array.isArray(allow)) return { set, dropped: [] };
  const kept = allow.filter(present);
  const dropped = allow.filter((tool) => !kept.includes(tool));
  return { set: { ...set, run: split ? { ...split, allow: kept } : kept }, dropped };
}

/** The directories of a root filesystem that the image's PATH holds (merged /usr first). */
const PATH_DIRS = ["usr/sbin", "usr/bin", "sbin", "bin"];

/**
 * Whether a tool name (or absolute path) exists in root filesystem `root`: as a file or a
 * symlink (busybox applets link to an absolute /usr/bin/busybox, not resolvable outside it).
 */
export function toolIn(root: string): (tool: string) => boolean {
  const base = root.replace(/\/$/, "");
  const exists = (path: string) => {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      return false;
    }
  };
  return (tool) =>
    tool.startsWith("/")
      ? exists(`${base}${tool}`)
      : PATH_DIRS.some((dir) => exists(`${base}/${dir}/${tool}`));
}
