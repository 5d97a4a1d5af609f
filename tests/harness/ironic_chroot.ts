/**
 * Ironic 29 (Debian trixie) for end-to-end tests, beside the host's Ironic 21.4 (bookworm): a
 * chroot built once per machine by `trixie_chroot.sh`, and the command line that runs a program
 * of it (`ironic`, `ironic-dbsync`) against a state dir of the host.
 *
 * Mounts happen in a private mount namespace (`unshare --mount`) owned by the process they serve:
 * /proc, /sys, /dev, then the state dir bound at its own path, so one ironic.conf with absolute
 * paths serves both sides. The kernel drops the namespace, and every mount in it, when its last
 * process ends, however it ends (stopped by PID, crashed, or the test runner killed), so nothing
 * stays mounted in the shared chroot and other tests' Ironic 29 instances keep their own mounts.
 */

const HERE = decodeURIComponent(new URL(".", import.meta.url).pathname);

/** Where the chroot lives; `IRONIC29_CHROOT` overrides it (CI machines may cache elsewhere). */
export function chrootRoot(): string {
  return Deno.env.get("IRONIC29_CHROOT") ?? "/var/cache/agent-test/trixie-build";
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    return ((await Deno.stat(path)).mode ?? 0) & 0o111 ? true : false;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Builds the chroot when it is missing (about 6 minutes, once per machine; bounded to 50 minutes
 * including waiting for a concurrent build) and returns its root.
 */
export async function ensureIronicChroot(root = chrootRoot()): Promise<string> {
  if (
    await isExecutable(`${root}/usr/bin/ironic`) &&
    await isExecutable(`${root}/usr/bin/ironic-dbsync`)
  ) return root;
  const out = await new Deno.Command("bash", {
    args: [`${HERE}trixie_chroot.sh`, root],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(50 * 60_000),
  }).output();
  if (!out.success) {
    throw new Error(
      `Cannot build the Ironic 29 chroot in "${root}": exit ${out.code}: ` +
        new TextDecoder().decode(out.stderr).slice(-2000),
    );
  }
  return root;
}

/**
 * The argv that runs `argv` (a program of the chroot) inside it with `stateDir` mounted at the
 * same path; the last process of the chain is the program itself (each step `exec`s), so its
 * PID is the one spawned and stopping that PID's group stops it.
 */
export function chrootArgv(root: string, stateDir: string, argv: readonly string[]): string[] {
  const script = [
    "set -e",
    'mount -t proc proc "$0/proc"',
    'mount -t sysfs sysfs "$0/sys"',
    'mount --bind /dev "$0/dev"',
    'mount --bind "$1" "$0$1"',
    "root=$0; shift",
    // A clean environment: nothing of the host's (PATH, PYTHONPATH, proxies) leaks in.
    'exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 ' +
    'HOME=/root "$@"',
  ].join("\n");
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--",
    "/bin/sh",
    "-c",
    script,
    root,
    stateDir,
    ...argv,
  ];
}

/** Creates the (empty) mount point of `stateDir` inside the chroot. */
export async function prepareMountPoint(root: string, stateDir: string): Promise<void> {
  await Deno.mkdir(`${root}${stateDir}`, { recursive: true });
}

/**
 * Removes the mount point again. Non-recursive on purpose: if the bind mount were somehow still
 * there, this fails (busy, not empty) instead of deleting the state dir through it.
 */
export async function removeMountPoint(root: string, stateDir: string): Promise<void> {
  try {
    await Deno.remove(`${root}${stateDir}`);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
