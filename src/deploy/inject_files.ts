/**
 * The `inject_files` deploy step's work (spec 08 §12, IPA `inject_files.py`): write, or delete,
 * files in the file systems of the freshly deployed install device.
 *
 * For each file, in order: the partition is the given number on the install device, the given
 * device path, or the first partition holding the path's top-level directory
 * (`partition_with_path.ts`); it is mounted on a temporary directory, the file is written (parent
 * directories created, `dirmode` on a created leaf directory, then `mode`, `owner`, `group`) or
 * deleted, and the partition is unmounted again. Paths resolve inside the partition as in a
 * chroot (`root_path.ts`), so the image's symbolic links cannot point the write at the ramdisk.
 *
 * Before anything is mounted, every partition's disk passes the `--protect-host` /
 * `--only-block-devices` fence and every URL's placeholders are expanded (`python_format.ts`).
 * A URL's response is received before its partition is mounted, so a failed download leaves the
 * file system alone.
 */
import { CommandExecutionError, InvalidCommandParamsError } from "../api/errors.ts";
import type { Node, Port } from "../hardware/manager.ts";
import type { Logger } from "../log.ts";
import { assertMayWrite, type FenceOptions } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";
import { decodeBase64, type InjectFile } from "./inject_files_spec.ts";
import { findPartitionWithPath, partitionPath } from "./partition_with_path.ts";
import { formatTemplate } from "./python_format.ts";
import { resolveInRoot } from "./root_path.ts";
import { withTempMount } from "./temp_mount.ts";

/** Fetches URL content; the step passes the agent's image HTTP client. */
export type ContentFetch = (url: string, init: { signal: AbortSignal }) => Promise<Response>;

export interface InjectFilesOptions {
  runner: Runner;
  log: Logger;
  node: Node;
  ports: readonly Port[];
  files: readonly InjectFile[];
  fence: FenceOptions;
  /** The install device (the managers' `getOsInstallDevice`). */
  rootDevice(): Promise<string>;
  fetch: ContentFetch;
  /** Connect and read-stall timeout of a download (`image_download_connection_timeout`). */
  timeoutMs: number;
  /** Extra attempts after a connection failure, and the pause between them. */
  retries: number;
  retryIntervalMs: number;
  signal: AbortSignal;
}

function reason(err: unknown): string {
  if (err instanceof InvalidCommandParamsError || err instanceof CommandExecutionError) {
    return err.details;
  }
  return err instanceof Error ? err.message : String(err);
}

/** The disk a device belongs to (`lsblk PKNAME`), or the device itself when it is a disk. */
async function parentDisk(runner: Runner, device: string): Promise<string> {
  const { stdout } = await runner.run("lsblk", ["-n", "-d", "-p", "-o", "PKNAME", device], {
    timeoutMs: 60_000,
  });
  return stdout.trim() || device;
}

/** Where each file goes, decided (and fenced) before anything is mounted. */
interface Plan {
  file: InjectFile;
  /** The partition, or null to search the install device. */
  device: string | null;
  /** URL content with its placeholders expanded. */
  url: string | null;
}

/** Node-specific URLs for deploy templates, as IPA's `content.format(node=, ports=)`. */
function contentUrl(options: InjectFilesOptions, file: InjectFile): string | null {
  const content = file.content ?? "";
  if (!content.includes("://")) return null;
  return formatTemplate(content, { node: options.node, ports: options.ports });
}

async function plan(options: InjectFilesOptions, root: string): Promise<Plan[]> {
  const plans: Plan[] = [];
  for (const file of options.files) {
    const { partition } = file;
    if (typeof partition === "string") {
      let disk: string;
      try {
        disk = await parentDisk(options.runner, partition);
      } catch (err) {
        throw new CommandExecutionError(
          `Cannot inject file ${file.path} (${file.source}): partition ${partition} is not a ` +
            `block device: ${reason(err)}`,
          { cause: err },
        );
      }
      assertMayWrite(options.fence, disk, "inject files into");
      plans.push({ file, device: partition, url: contentUrl(options, file) });
    } else {
      assertMayWrite(options.fence, root, "inject files into");
      const device = partition === null ? null : partitionPath(root, partition);
      plans.push({ file, device, url: contentUrl(options, file) });
    }
  }
  return plans;
}

/** The body of URL content: a response received before mounting, or decoded base64. */
type Body = Uint8Array | Response;

async function download(options: InjectFilesOptions, file: InjectFile, url: string) {
  const total = options.retries + 1;
  for (let attempt = 1;; attempt++) {
    // The timeout bounds the wait for the response headers; a stalled body is `writeBody`'s.
    const connect = new AbortController();
    const timer = setTimeout(
      () => connect.abort(new Error(`no response within ${options.timeoutMs / 1000} s`)),
      options.timeoutMs,
    );
    const signal = AbortSignal.any([options.signal, connect.signal]);
    let response: Response;
    try {
      response = await options.fetch(url, { signal }).finally(() => clearTimeout(timer));
    } catch (err) {
      if (options.signal.aborted || attempt >= total) {
        throw new CommandExecutionError(
          `Unable to read data from ${url} for file ${file.path}: ${reason(err)}`,
          { cause: err },
        );
      }
      options.log.warn("content download failed, retrying", {
        url,
        attempt,
        attempts: total,
        error: reason(err),
      });
      await new Promise((r) => setTimeout(r, options.retryIntervalMs));
      continue;
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new CommandExecutionError(
        `Unable to read data from ${url} for file ${file.path}: HTTP ${response.status} ` +
          response.statusText,
      );
    }
    return response;
  }
}

async function contentBody(options: InjectFilesOptions, plan: Plan): Promise<Body> {
  if (plan.url === null) return decodeBase64(plan.file.content ?? "");
  options.log.info("downloading file content", { file: plan.file.path, url: plan.url });
  return await download(options, plan.file, plan.url);
}

/** Writes `body` to `path`; a stalled download fails after `timeoutMs`. */
async function writeBody(path: string, body: Body, timeoutMs: number): Promise<void> {
  using out = await Deno.open(path, { write: true, create: true, truncate: true });
  const writeAll = async (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += await out.write(bytes.subarray(done));
  };
  if (body instanceof Uint8Array) return await writeAll(body);
  if (!body.body) return;
  const reader = body.body.getReader();
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`download stalled for ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      });
      const chunk = await Promise.race([reader.read(), stalled]).finally(() => clearTimeout(timer));
      if (chunk.done) return;
      await writeAll(chunk.value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function writeInto(dir: string, file: InjectFile, body: Body, options: InjectFilesOptions) {
  const parents = file.components.slice(0, -1);
  const parent = await resolveInRoot(dir, parents);
  let parentPath = parent.existing;
  for (const name of parent.missing) {
    parentPath = `${parentPath}/${name}`;
    await Deno.mkdir(parentPath);
  }
  // IPA: chmod only the leaf directory, and only when this write created it.
  if (parent.missing.length && file.dirmode !== null) await Deno.chmod(parentPath, file.dirmode);
  const target = await resolveInRoot(dir, file.components);
  if (target.missing.length > 1) {
    throw new Error(`the path is a symbolic link to a missing directory`);
  }
  const path = target.missing.length ? `${target.existing}/${target.missing[0]}` : target.existing;
  if (!target.missing.length && (await Deno.lstat(path)).isDirectory) {
    throw new Error(`the path is a directory`);
  }
  await writeBody(path, body, options.timeoutMs);
  if (file.mode !== null) await Deno.chmod(path, file.mode);
  if (file.owner !== null || file.group !== null) await Deno.chown(path, file.owner, file.group);
}

/** IPA `unlink_without_raise`: a missing file is fine, other failures are only logged. */
async function deleteFrom(dir: string, file: InjectFile, log: Logger): Promise<void> {
  const parent = await resolveInRoot(dir, file.components.slice(0, -1));
  if (parent.missing.length) return;
  const path = `${parent.existing}/${file.components.at(-1)}`;
  try {
    if ((await Deno.lstat(path)).isDirectory) throw new Error("it is a directory");
    await Deno.remove(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    log.warn("could not delete the file", { file: file.path, error: reason(err) });
  }
}

async function injectOne(options: InjectFilesOptions, plan: Plan, device: string) {
  const { file } = plan;
  const log = options.log.with({ file: file.path, partition: device });
  const body = file.deleted ? null : await contentBody(options, plan);
  let mounted = false;
  try {
    await withTempMount(options.runner, device, { log }, async (dir) => {
      mounted = true;
      try {
        if (body === null) await deleteFrom(dir, file, log);
        else await writeInto(dir, file, body, options);
      } catch (err) {
        throw new CommandExecutionError(
          `Failed to inject file ${file.path} (${file.source}) into partition ${device}: ` +
            reason(err),
          { cause: err },
        );
      }
    });
  } catch (err) {
    if (body instanceof Response) await body.body?.cancel().catch(() => {});
    if (mounted) throw err;
    throw new CommandExecutionError(
      `Cannot mount partition ${device} to inject file ${file.path} (${file.source}): ` +
        reason(err),
      { cause: err },
    );
  }
  log.info(file.deleted ? "file deleted" : "file injected");
}

/** Injects `options.files`; nothing to do (not even finding the install device) when empty. */
export async function injectFiles(options: InjectFilesOptions): Promise<void> {
  const { log } = options;
  if (!options.files.length) {
    log.info("No files to inject");
    return;
  }
  const root = await options.rootDevice();
  const plans = await plan(options, root);
  for (const plan of plans) {
    options.signal.throwIfAborted();
    const partition = plan.device ??
      await findPartitionWithPath(options.runner, root, plan.file.components[0]!, { log });
    await injectOne(options, plan, partition);
  }
}
