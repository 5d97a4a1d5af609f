/**
 * Writing the config drive into its partition (spec 08 §8.2 step 5).
 *
 * IPA copies the image with `dd`, then mounts it and, when the mount fails (an ISO 9660 image,
 * 2048-byte blocks, on a 4K-sector disk), rebuilds the partition as vfat from the image's files.
 * We decide the same thing without mounting: a filesystem whose block size is smaller than the
 * device's logical sector size cannot be read there, so it is rebuilt; otherwise it is copied and
 * `blkid -p` must recognise it on the partition. Not mounting keeps tenant-supplied filesystem
 * images away from the ramdisk kernel's filesystem drivers, and works on kernels without
 * iso9660/vfat. The rebuild uses userspace tools only: `xorriso` (or `mcopy` for a vfat image)
 * extracts the files, `mkfs.vfat -n CONFIG-2` formats, `mcopy` copies them in.
 */
import { DeploymentError } from "../api/errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { probePartition } from "./config_drive_partition.ts";

const TOOL_TIMEOUT_MS = 5 * 60 * 1000;
/** Every device sector size divides this, so `oflag=direct` accepts the last block. */
const PAD_TO = 4096;
/** mtools refuses devices whose geometry it cannot check; the partition has none. */
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: "1" };

export type ConfigDriveKind = { type: "iso9660" | "vfat"; blockSize: number } | {
  type: "unknown";
};

/** Recognises an ISO 9660 or FAT image and its block (sector) size. */
export function configDriveKind(image: Uint8Array): ConfigDriveKind {
  const text = (offset: number, length: number) =>
    new TextDecoder().decode(image.subarray(offset, offset + length));
  if (text(32769, 5) === "CD001") return { type: "iso9660", blockSize: 2048 };
  const bootSignature = image[510] === 0x55 && image[511] === 0xaa;
  if (bootSignature && (text(54, 3) === "FAT" || text(82, 3) === "FAT")) {
    const bytesPerSector = (image[11] ?? 0) | ((image[12] ?? 0) << 8);
    if ([512, 1024, 2048, 4096].includes(bytesPerSector)) {
      return { type: "vfat", blockSize: bytesPerSector };
    }
  }
  return { type: "unknown" };
}

export interface WriteConfigDriveOptions {
  log: Logger;
  /** `config_drive_rebuild`: always rebuild as vfat. */
  rebuild: boolean;
  /** Where the rebuild extracts files (the agent's writable temporary directory). */
  tmpDir?: string;
}

export interface WriteConfigDriveResult {
  /** "copied" (dd) or "rebuilt" (vfat). */
  method: "copied" | "rebuilt";
  label: string;
  fsType: string;
}

function padded(image: Uint8Array): Uint8Array {
  const size = Math.ceil(image.length / PAD_TO) * PAD_TO;
  if (size === image.length) return image;
  const out = new Uint8Array(size);
  out.set(image);
  return out;
}

async function copyImage(runner: Runner, partition: string, image: Uint8Array): Promise<void> {
  await runner.run(
    "dd",
    [`of=${partition}`, "bs=1M", "iflag=fullblock", "oflag=direct", "conv=fsync", "status=none"],
    { input: padded(image), timeoutMs: TOOL_TIMEOUT_MS },
  );
}

async function extract(
  runner: Runner,
  kind: ConfigDriveKind,
  imageFile: string,
  into: string,
): Promise<void> {
  if (kind.type === "iso9660") {
    await runner.run("xorriso", ["-osirrox", "on", "-indev", imageFile, "-extract", "/", into], {
      timeoutMs: TOOL_TIMEOUT_MS,
    });
  } else if (kind.type === "vfat") {
    await runner.run("mcopy", ["-s", "-n", "-i", imageFile, "::/*", into], {
      timeoutMs: TOOL_TIMEOUT_MS,
      env: MTOOLS_ENV,
    });
  } else {
    throw new DeploymentError(
      "Cannot rebuild the config drive as vfat: the image is neither ISO 9660 nor vfat",
    );
  }
}

/**
 * Refuses links and special files in the extracted tree: `mcopy -s` follows symbolic links, so a
 * link in a tenant's ISO could copy files of the ramdisk into the instance's config drive.
 */
export async function assertPlainTree(dir: string, root = dir): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      await assertPlainTree(path, root);
    } else if (!entry.isFile) {
      throw new DeploymentError(
        `Cannot rebuild the config drive: "${path.slice(root.length)}" is a link or special ` +
          "file; only regular files and directories are copied",
      );
    }
  }
}

async function rebuild(
  runner: Runner,
  partition: string,
  image: Uint8Array,
  kind: ConfigDriveKind,
  options: WriteConfigDriveOptions,
): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: options.tmpDir, prefix: "configdrive-" });
  try {
    const imageFile = `${dir}/image`;
    const files = `${dir}/files`;
    await Deno.writeFile(imageFile, image);
    await Deno.mkdir(files);
    await extract(runner, kind, imageFile, files);
    await assertPlainTree(files);
    await runner.run("mkfs.vfat", ["-n", "CONFIG-2", partition], { timeoutMs: TOOL_TIMEOUT_MS });
    const entries: string[] = [];
    for await (const entry of Deno.readDir(files)) entries.push(`${files}/${entry.name}`);
    if (entries.length > 0) {
      await runner.run("mcopy", ["-s", "-i", partition, ...entries.sort(), "::/"], {
        timeoutMs: TOOL_TIMEOUT_MS,
        env: MTOOLS_ENV,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch((err) =>
      options.log.warn("could not remove the config-drive work directory", { dir, error: err })
    );
  }
}

/**
 * Writes `image` to `partition`, rebuilding it as vfat when the device cannot read the image's
 * filesystem (or when asked). Throws `DeploymentError` when the result is not a filesystem.
 */
export async function writeConfigDrive(
  runner: Runner,
  partition: string,
  image: Uint8Array,
  options: WriteConfigDriveOptions,
): Promise<WriteConfigDriveResult> {
  const sector = Number(
    (await runner.run("blockdev", ["--getss", partition], { timeoutMs: 30_000 })).stdout.trim(),
  );
  const kind = configDriveKind(image);
  const unreadable = kind.type !== "unknown" && kind.blockSize < sector;
  const method = options.rebuild || unreadable ? "rebuilt" : "copied";
  options.log.info("writing the config drive", {
    partition,
    bytes: image.length,
    filesystem: kind.type,
    sector_size: sector,
    method,
  });
  try {
    if (method === "rebuilt") await rebuild(runner, partition, image, kind, options);
    else await copyImage(runner, partition, image);
  } catch (err) {
    if (err instanceof DeploymentError) throw err;
    throw new DeploymentError(
      `Failed to write the config drive to ${partition}: ` +
        (err instanceof Error ? err.message : String(err)),
      { cause: err },
    );
  }
  const fields = await probePartition(runner, partition);
  if (!fields.TYPE) {
    throw new DeploymentError(
      `The config drive written to ${partition} is not a recognisable filesystem ` +
        `(image type: ${kind.type})`,
    );
  }
  return { method, label: fields.LABEL ?? "", fsType: fields.TYPE };
}
