/**
 * The EFI assets a partition image ships in its root filesystem (`/boot/efi/EFI/...`), copied
 * onto the ESP the agent created for it (spec 08 §10.5 step 3). IPA mounts the ESP and copies
 * the tree; here mtools writes the ESP (`mcopy -i <esp>`), so neither a vfat driver nor a mount
 * of the tenant's ESP is needed, as in `boot_entries.ts`.
 *
 * The tree comes from the tenant's image, mounted on the ramdisk: `mcopy -s` follows symbolic
 * links, so every path component from the mount point down is checked with `lstat` and a link
 * or special file in the tree is refused. Otherwise a link could copy the ramdisk's own files
 * onto the instance's ESP. Nothing in the image runs meanwhile, so the check cannot be raced.
 */
import { DeploymentError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";

const TOOL_TIMEOUT_MS = 5 * 60 * 1000;
/** mtools refuses devices whose geometry it cannot check; a partition has none. */
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: "1" };
/** Where the image keeps its EFI assets, relative to its root. */
export const EFI_ASSETS_DIR = "boot/efi/EFI";
/** Copied next to each loader when the image has them and the loader's directory does not. */
const GRUB2_FILES = ["grub.cfg", "grubenv"];
/** Bound on the files of the tree: an ESP holds a few dozen; a hostile image may hold millions. */
const MAX_FILES = 10_000;

export interface EfiAssets {
  /** Files under `boot/efi/EFI`, relative to it (`debian/grubx64.efi`), sorted. */
  files: string[];
  /** Directories holding a `.efi` loader, relative to `boot/efi/EFI` (`""` for the top). */
  loaderDirs: string[];
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw err;
  }
}

/** Whether `root/relative` is reached through real directories only and is `kind` itself. */
async function isPlain(root: string, relative: string, kind: "dir" | "file"): Promise<boolean> {
  const parts = relative.split("/");
  for (let i = 0; i < parts.length; i++) {
    const info = await lstatOrNull(`${root}/${parts.slice(0, i + 1).join("/")}`);
    const last = i === parts.length - 1;
    if (!info || info.isSymlink) return false;
    if (last ? (kind === "dir" ? !info.isDirectory : !info.isFile) : !info.isDirectory) {
      return false;
    }
  }
  return true;
}

async function walk(root: string, dir: string, files: string[]): Promise<void> {
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory) {
      await walk(root, path, files);
    } else if (entry.isFile) {
      files.push(path);
      if (files.length > MAX_FILES) {
        throw new DeploymentError(
          `Cannot copy the image's EFI assets: "/${EFI_ASSETS_DIR}" holds more than ${MAX_FILES} files`,
        );
      }
    } else {
      throw new DeploymentError(
        `Cannot copy the image's EFI assets: "/${EFI_ASSETS_DIR}/${path}" is a link or ` +
          "special file; only regular files and directories are copied",
      );
    }
  }
}

/**
 * The EFI assets of the image mounted at `root`, or null when it has none (no plain
 * `boot/efi/EFI` directory, or an empty one). Throws `DeploymentError` on a link in the tree.
 */
export async function findEfiAssets(root: string): Promise<EfiAssets | null> {
  if (!await isPlain(root, EFI_ASSETS_DIR, "dir")) return null;
  const files: string[] = [];
  await walk(`${root}/${EFI_ASSETS_DIR}`, "", files);
  if (files.length === 0) return null;
  files.sort();
  const loaderDirs = [
    ...new Set(
      files.filter((f) => f.toLowerCase().endsWith(".efi")).map((f) =>
        f.includes("/") ? f.slice(0, f.lastIndexOf("/")) : ""
      ),
    ),
  ];
  return { files, loaderDirs };
}

export interface CopyEfiAssetsOptions {
  log: Logger;
  /** The mount point of the image's root filesystem. */
  root: string;
  /** The ESP partition (`/dev/sda1`), written with mtools. */
  esp: string;
  assets: EfiAssets;
}

/**
 * Copies `boot/efi/EFI` of the image to `::/EFI` of the ESP, then the image's
 * `boot/grub2/grub.cfg` and `grubenv` next to each loader that lacks them (as IPA does).
 */
export async function copyEfiAssets(runner: Runner, options: CopyEfiAssetsOptions): Promise<void> {
  const { root, esp, assets, log } = options;
  const mcopy = (args: string[]) =>
    runner.run("mcopy", ["-D", "o", "-i", esp, ...args], {
      timeoutMs: TOOL_TIMEOUT_MS,
      env: MTOOLS_ENV,
    });
  // `-s` copies the EFI directory itself, so it lands as ::/EFI.
  await mcopy(["-s", `${root}/${EFI_ASSETS_DIR}`, "::/"]);
  log.info("copied the image's EFI assets onto the ESP", { esp, files: assets.files.join(",") });
  for (const name of GRUB2_FILES) {
    const source = `boot/grub2/${name}`;
    if (!await isPlain(root, source, "file")) continue;
    for (const dir of assets.loaderDirs) {
      const target = dir ? `${dir}/${name}` : name;
      if (assets.files.some((f) => f.toLowerCase() === target.toLowerCase())) continue;
      await mcopy([`${root}/${source}`, `::/EFI/${target}`]);
      log.info("copied the image's GRUB file next to its loader", { esp, file: `/EFI/${target}` });
    }
  }
}
