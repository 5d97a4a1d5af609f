/**
 * `standby.prepare_image` (spec 08 §2), shared with the generic manager's `write_image` step.
 *
 * This agent streams every accepted image: whole-disk images go from the HTTP response through
 * the checksum, format inspection and (for qcow2 and compressed images) a streaming decoder onto
 * the install device (`src/image/image_pipeline.ts`). Partition images and config drives are
 * refused before anything is written (TODO(#5)).
 */
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { Config } from "../config.ts";
import type { Dispatcher, ImageDeployer } from "../hardware/manager.ts";
import {
  fixGpt,
  type ImageInfo,
  readDiskIdentifier,
  streamImageToDevice,
  validateImageInfo,
  validatePartitioning,
} from "../image/mod.ts";
import type { Logger } from "../log.ts";
import { assertMayWrite } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";

/**
 * Declared formats this agent can stream (the content is inspected again on the stream): the
 * conductor's `disk_format`, or null when it does not know.
 */
const STREAMABLE_FORMATS = new Set(["raw", "gpt", "qcow2", "iso", "unknown"]);

export interface ImageDeployerOptions {
  runner: Runner;
  /** Read at call time: lookup may change `md5Enabled` and `permittedImageFormats`. */
  config: Config;
  managers: Dispatcher;
}

export interface AgentImageDeployer extends ImageDeployer {
  /** What `standby.get_partition_uuids` returns: the last deploy's UUIDs, or `{}`. */
  partitionUuids(): Record<string, unknown>;
}

function checkDeployable(info: ImageInfo, configdrive: unknown): void {
  // TODO(#5): config drives and partition images.
  if (configdrive) {
    throw new InvalidCommandParamsError(
      `Cannot deploy image ${info.id}: config drives are not supported by this agent yet`,
    );
  }
  if (info.image_type === "partition") {
    throw new InvalidCommandParamsError(
      `Cannot deploy image ${info.id}: partition images are not supported by this agent yet`,
    );
  }
  const format = info.disk_format ?? null;
  if (format !== null && !STREAMABLE_FORMATS.has(format)) {
    throw new InvalidCommandParamsError(
      `Cannot deploy image ${info.id}: image_info.disk_format "${format}" is not supported by ` +
        `this agent yet (supported: raw, gpt, qcow2, iso)`,
    );
  }
}

/** Size of `device` in bytes (`blockdev --getsize64`), or null when it cannot be read. */
async function deviceBytes(runner: Runner, device: string, log: Logger): Promise<number | null> {
  try {
    const out = await runner.run("blockdev", ["--getsize64", device], { timeoutMs: 30_000 });
    const size = Number(out.stdout.trim());
    return Number.isSafeInteger(size) && size > 0 ? size : null;
  } catch (err) {
    log.warn("could not read the device size", { device, error: err });
    return null;
  }
}

export function createImageDeployer(options: ImageDeployerOptions): AgentImageDeployer {
  const { runner, config, managers } = options;
  let partitionUuids: Record<string, unknown> = {};

  return {
    partitionUuids: () => partitionUuids,

    validate(imageInfo, configdrive) {
      checkDeployable(validateImageInfo(imageInfo, { md5Enabled: config.md5Enabled }), configdrive);
    },

    async prepareImage(request) {
      const info = validateImageInfo(request.imageInfo, { md5Enabled: config.md5Enabled });
      checkDeployable(info, request.configdrive);
      const log = request.log.with({ image: info.id });
      const device = await managers.dispatch("getOsInstallDevice", request.node);
      assertMayWrite(config, device, "write an image to");
      log.info("writing image", { device, disk_format: info.disk_format ?? null });
      partitionUuids = {};
      const written = await streamImageToDevice({
        imageInfo: info,
        device,
        runner,
        log,
        options: {
          connectionTimeoutMs: config.imageDownloadConnectionTimeout * 1000,
          retries: config.imageDownloadConnectionRetries,
          retryIntervalMs: config.imageDownloadConnectionRetryInterval * 1000,
          md5Enabled: config.md5Enabled,
          maxDurationMs: config.imageDownloadMaxDuration * 1000 || undefined,
          serverAuth: {
            strategy: config.imageServerAuthStrategy,
            user: config.imageServerUser ?? undefined,
            password: config.imageServerPassword ?? undefined,
          },
          tls: config.cafile ? { caCerts: [await Deno.readTextFile(config.cafile)] } : undefined,
        },
        signal: request.signal,
        onProgress: (p) => request.progress({ ...p }),
        deviceBytes: await deviceBytes(runner, device, log),
        formats: {
          permitted: config.permittedImageFormats,
          deep: !config.disableDeepImageInspection,
        },
      });
      // A failed GPT repair is logged, not fatal (spec 08 §6.3).
      await fixGpt(runner, device).catch((err) => log.warn("could not fix GPT", { error: err }));
      await validatePartitioning(runner, device);
      const rootUuid = await readDiskIdentifier(runner, device);
      partitionUuids = { "root uuid": rootUuid };
      log.info("image written", {
        device,
        bytes: written.bytesWritten,
        seconds: written.seconds,
        root_uuid: rootUuid,
      });
      return `image (${info.id}) written to device ${device} root_uuid=${rootUuid}`;
    },
  };
}
