/**
 * Path resolution inside a mounted file system as if it were the root (a chroot), for
 * `inject_files`. The partition belongs to the tenant image: a symbolic link in it such as
 * `etc -> /` or `hosts -> ../../../../etc/shadow` must resolve within the image, never onto the
 * agent's own files. IPA writes through the host's view of the links; this module walks the
 * path one component at a time with `lstat`, restarting absolute link targets at the mount point
 * and clamping `..` there, and hands back a host path with no link left in it.
 */

/** Links followed before giving up, as the kernel's ELOOP limit. */
const MAX_LINKS = 40;

export interface RootPath {
  /** Host path of the deepest existing component (the mount point itself when none exists). */
  readonly existing: string;
  /** Components below `existing` that do not exist yet, in order. */
  readonly missing: readonly string[];
}

function hostPath(root: string, stack: readonly string[]): string {
  return stack.length ? `${root}/${stack.join("/")}` : root;
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/**
 * Resolves `components` (relative to the file system's root) under the mount point `root`,
 * following every symbolic link within it. Throws `Error` on link loops, on a component below a
 * non-directory, and when a missing part would climb with `..` (a dangling link's target).
 */
export async function resolveInRoot(
  root: string,
  components: readonly string[],
): Promise<RootPath> {
  const stack: string[] = [];
  const queue = [...components];
  let links = 0;
  while (queue.length) {
    const name = queue.shift()!;
    if (name === "" || name === ".") continue;
    if (name === "..") {
      stack.pop();
      continue;
    }
    const candidate = hostPath(root, [...stack, name]);
    const info = await lstatOrNull(candidate);
    if (info === null) {
      const missing = [name, ...queue].filter((c) => c !== "" && c !== ".");
      if (missing.includes("..")) {
        throw new Error(`${candidate} does not exist and the path climbs out of it with ".."`);
      }
      return { existing: hostPath(root, stack), missing };
    }
    if (info.isSymlink) {
      if (++links > MAX_LINKS) {
        throw new Error(`too many levels of symbolic links at ${candidate}`);
      }
      const target = await Deno.readLink(candidate);
      if (target.startsWith("/")) stack.length = 0;
      queue.unshift(...target.split("/"));
      continue;
    }
    if (queue.some((c) => c !== "" && c !== ".") && !info.isDirectory) {
      throw new Error(`${candidate} is not a directory`);
    }
    stack.push(name);
  }
  return { existing: hostPath(root, stack), missing: [] };
}
