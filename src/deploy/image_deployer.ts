/**
 * `standby.prepare_image` (spec 08 §2), shared with the generic manager's `write_image` step.
 *
 * This agent streams every accepted image: whole-disk images go from the HTTP response through
 * the checksum, format inspection and (for qcow2 and compressed images) a streaming decoder onto
 * the install device (`src/image/image_pipeline.ts`). A config drive is fetched and decoded
 * before the disk is touched and written after the image (spec 08 §8). A partition image
 * (spec 08 §7) is checked and planned first; the disk is laid out only once the streamed image has
 * passed inspection and the root size check (`partition_target.ts`), and the image then goes into
 * the root partition.
 */
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { Config } from "../config.ts";
import type { Dispatcher, ImageDeployer } from "../hardware/manager.ts";
import {
  createImageHttp,
  fixGpt,
  type ImageInfo,
  loadConfigDrive,
  prepareConfigDrivePartition,
  readDiskIdentifier,
  streamImageToDevice,
  validateImageInfo,
  validatePartitioning,
  writeConfigDrive,
} from "../image/mod.ts";
import type { Logger } from "../log.ts";
import { partitionImageUuids, partitionParams } from "../image/partition_image.ts";
import { assertMayWrite } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";
import { pathExists } from "../system/sysfs.ts";
import { planPartitionTarget } from "./partition_target.ts";

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

function checkDeployable(info: ImageInfo): void {
  if (info.image_type === "partition") partitionParams(info);
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
      checkDeployable(validateImageInfo(imageInfo, { md5Enabled: config.md5Enabled }));
      if (configdrive !== null && configdrive !== undefined && typeof configdrive !== "string") {
        throw new InvalidCommandParamsError(
          `Cannot deploy image: configdrive must be a string (a URL or gzip+base64), not ` +
            typeof configdrive,
        );
      }
    },

    async prepareImage(request) {
      const info = validateImageInfo(request.imageInfo, { md5Enabled: config.md5Enabled });
      checkDeployable(info);
      const log = request.log.with({ image: info.id });
      const tls = config.cafile ? { caCerts: [await Deno.readTextFile(config.cafile)] } : undefined;
      // Spec 08 §2: the step argument wins, else the copy inside image_info.
      const configdriveSource = typeof request.configdrive === "string" && request.configdrive
        ? request.configdrive
        : info.configdrive || null;
      // Fetched and decoded before the disk is touched, so a bad config drive writes nothing.
      let configdrive: Uint8Array | null = null;
      if (configdriveSource) {
        using http = createImageHttp(info, { tls });
        configdrive = await loadConfigDrive(configdriveSource, {
          nodeUuid: info.node_uuid ?? request.node?.uuid ?? "unknown",
          fetch: http.fetch,
          timeoutMs: config.imageDownloadConnectionTimeout * 1000,
          signal: request.signal,
        });
        log.info("config drive decoded", { bytes: configdrive.length });
      }
      const device = await managers.dispatch("getOsInstallDevice", request.node);
      assertMayWrite(config, device, "write an image to");
      log.info("writing image", {
        device,
        disk_format: info.disk_format ?? null,
        image_type: info.image_type ?? "whole-disk",
      });
      partitionUuids = {};
      const size = await deviceBytes(runner, device, log);
      const partition = info.image_type === "partition"
        ? planPartitionTarget({
          runner,
          log,
          info,
          node: request.node,
          device,
          deviceBytes: size,
          bootedUefi: await pathExists(runner, "/sys/firmware/efi"),
          configDrive: configdrive,
          rebuildConfigDrive: config.configDriveRebuild,
        })
        : null;
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
          tls,
        },
        signal: request.signal,
        onProgress: (p) => request.progress({ ...p }),
        // A partition image is checked against its root partition instead (prepareTarget).
        deviceBytes: partition ? null : size,
        formats: {
          permitted: config.permittedImageFormats,
          deep: !config.disableDeepImageInspection,
        },
        prepareTarget: partition?.prepareTarget,
      });
      if (partition) {
        const paths = await partition.paths();
        if (!paths?.root) throw new TypeError("partition image written without a layout");
        await validatePartitioning(runner, device);
        const uuids = await partitionImageUuids(runner, paths);
        partitionUuids = uuids;
        const rootUuid = uuids["root uuid"] ?? "";
        const esp = uuids["efi system partition uuid"];
        log.info("partition image written", {
          device,
          root: paths.root,
          bytes: written.bytesWritten,
          seconds: written.seconds,
          root_uuid: String(rootUuid),
          efi_system_partition_uuid: esp ? String(esp) : undefined,
        });
        // Spec 08 §9: the ESP UUID is only named for UEFI deploys.
        const espText = partition.bootMode === "uefi" && esp
          ? ` efi_system_partition_uuid=${esp}`
          : "";
        return `image (${info.id}) written to device ${device} root_uuid=${rootUuid}${espText}`;
      }
      // A failed GPT repair is logged, not fatal (spec 08 §6.3).
      await fixGpt(runner, device).catch((err) => log.warn("could not fix GPT", { error: err }));
      await validatePartitioning(runner, device);
      if (configdrive) {
        const partition = await prepareConfigDrivePartition(runner, device, { log });
        const written = await writeConfigDrive(runner, partition, configdrive, {
          log,
          rebuild: config.configDriveRebuild,
        });
        log.info("config drive written", { partition, ...written });
      }
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
