/**
 * Loop devices for tests: a sparse file in a temporary directory, attached with `losetup`,
 * detached and deleted on dispose. These are the only block devices any test may write.
 *
 *   await using disk = await createLoopDevice({ sizeMiB: 64 });
 *   disk.path // "/dev/loop3"
 */

export interface LoopDevice extends AsyncDisposable {
  /** `/dev/loopN`. */
  readonly path: string;
  /** The backing sparse file. */
  readonly file: string;
  readonly sizeBytes: number;
}

export interface LoopOptions {
  sizeMiB: number;
  /** Logical sector size (512 or 4096). */
  sectorSize?: number;
}

async function tool(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${text.decode(out.stderr)}`);
  }
  return text.decode(out.stdout);
}

export async function createLoopDevice(options: LoopOptions): Promise<LoopDevice> {
  const dir = await Deno.makeTempDir({ prefix: "agent-loop-" });
  const file = `${dir}/disk.img`;
  const sizeBytes = options.sizeMiB * 1024 * 1024;
  await tool("truncate", ["-s", String(sizeBytes), file]);
  const args = ["--find", "--show"];
  if (options.sectorSize) args.push("--sector-size", String(options.sectorSize));
  let path: string;
  try {
    path = (await tool("losetup", [...args, file])).trim();
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
  return {
    path,
    file,
    sizeBytes,
    async [Symbol.asyncDispose]() {
      // Partitions the kernel learnt about (parted, partx -a) outlive the detach and would show
      // up as stale `p1` on the next user of this loop number.
      await tool("partx", ["-d", path]).catch(() => {});
      // udev may still hold the device for a moment after a partition-table change.
      for (let attempt = 0; attempt < 10; attempt++) {
        try {
          await tool("losetup", ["--detach", path]);
          break;
        } catch (err) {
          if (attempt === 9) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Reads `length` bytes at `offset` of a loop device's backing file. */
export async function readBacking(disk: LoopDevice, offset: number, length: number) {
  using file = await Deno.open(disk.file, { read: true });
  await file.seek(offset, Deno.SeekMode.Start);
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Writes `bytes` at `offset` of a loop device's backing file (without truncating it). */
export async function writeBacking(disk: LoopDevice, offset: number, bytes: Uint8Array) {
  using file = await Deno.open(disk.file, { write: true });
  await file.seek(offset, Deno.SeekMode.Start);
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
}
