/**
 * Test images built with the real tools (qemu-img, gzip, xz, zstd, genisoimage) in a temporary
 * directory removed on dispose.
 */

export interface ImageDir extends AsyncDisposable {
  readonly dir: string;
  /** Runs a tool in the directory; throws with its stderr on failure. */
  tool(cmd: string, args: string[]): Promise<void>;
  /**
   * `qemu-img convert` of the raw file `source` to the qcow2 image `target`: `compressed` writes
   * compressed clusters (`-c`), `options` are the qcow2 options (`-o`, e.g. `cluster_size=4096`).
   */
  toQcow2(
    source: string,
    target: string,
    settings?: { compressed?: boolean; options?: string },
  ): Promise<void>;
  path(name: string): string;
  read(name: string): Promise<Uint8Array>;
}

export async function imageDir(): Promise<ImageDir> {
  const dir = await Deno.makeTempDir({ prefix: "agent-formats-" });
  async function tool(cmd: string, args: string[]): Promise<void> {
    const out = await new Deno.Command(cmd, { args, cwd: dir, stdout: "piped", stderr: "piped" })
      .output();
    if (!out.success) {
      throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  return {
    dir,
    tool,
    toQcow2: (source, target, { compressed = false, options } = {}) =>
      tool("qemu-img", [
        "convert",
        ...(compressed ? ["-c"] : []),
        "-f",
        "raw",
        "-O",
        "qcow2",
        ...(options === undefined ? [] : ["-o", options]),
        source,
        target,
      ]),
    path: (name) => `${dir}/${name}`,
    read: (name) => Deno.readFile(`${dir}/${name}`),
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Random bytes with a zeroed hole in the middle, so a qcow2 of it has unallocated clusters. */
export function sparseContent(size: number, hole: { start: number; length: number }): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(offset + 65536, size)));
  }
  bytes.fill(0, hole.start, hole.start + hole.length);
  // No MBR signature: the content is plain raw.
  bytes[510] = 0;
  bytes[511] = 0;
  return bytes;
}

/**
 * Recognisable content for compressed images: per 64 KiB block, text naming the block (deflates
 * well), random bytes (stored uncompressed by `qemu-img convert -c`) or a zeroed hole.
 */
export function mixedContent(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  const text = new TextEncoder();
  for (let block = 0; block * 65536 < size; block++) {
    const start = block * 65536;
    const part = bytes.subarray(start, Math.min(start + 65536, size));
    if (block % 4 === 1) crypto.getRandomValues(part);
    else if (block % 4 !== 3) {
      const line = text.encode(`block ${block} of the test image, line `);
      for (let i = 0; i < part.length; i++) part[i] = line[i % line.length]! ^ (i >> 9 & 0xff);
    }
  }
  bytes[510] = 0;
  bytes[511] = 0;
  return bytes;
}
