/**
 * `standby.prepare_image` (spec 08 §2), shared with the generic manager's `write_image` step.
 *
 * This agent streams every accepted image: raw (and GPT, written exactly like raw) whole-disk
 * images go from the HTTP response through the checksum onto the install device. The formats
 * that need conversion, partition images and config drives come with issue #5 and are refused
 * before anything is written.
 */
import { InvalidCommandParamsError, InvalidImage } from "../api/errors.ts";
import type { Config } from "../config.ts";
import type { Dispatcher, ImageDeployer } from "../hardware/manager.ts";
import { fetchImageHead, sniffFormat } from "../image/format_sniff.ts";
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

/** Formats streamed as bytes: the conductor's `disk_format`, or null when it does not know. */
const STREAMABLE_FORMATS = new Set(["raw", "gpt"]);

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
  // TODO(#5): config drives, partition images, qcow2 and compressed images.
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
        `this agent yet (supported: raw, gpt)`,
    );
  }
}

/**
 * Refuses, before anything is written, an image whose content is not raw or whose format is not
 * permitted (GPT content counts as raw, spec 08 §6.1 recommendation).
 */
async function checkContent(
  info: ImageInfo,
  config: Config,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const url = info.urls[0]!;
  let head: Uint8Array;
  try {
    head = await fetchImageHead(url, {
      timeoutMs: config.imageDownloadConnectionTimeout * 1000,
      signal,
    });
  } catch (err) {
    // The download itself retries and reports; here only a refusal by content matters.
    log.warn("could not read the start of the image to check its format", { error: err });
    return;
  }
  const detected = sniffFormat(head);
  if (detected !== "raw") {
    throw new InvalidImage(
      `Image ${info.id} is ${detected} (declared ${info.disk_format ?? "unknown"}); this agent ` +
        "writes raw and GPT whole-disk images only",
    );
  }
  const permitted = config.permittedImageFormats;
  if (!permitted.includes("raw") && !permitted.includes("gpt")) {
    throw new InvalidImage(
      `Detected image format was raw, but only ${permitted.join(", ")} are allowed`,
    );
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
      await checkContent(info, config, log, request.signal);
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
