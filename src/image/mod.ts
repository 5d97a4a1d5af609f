/**
 * Image deployment (spec 08): what `standby.prepare_image` uses from this folder.
 *
 * Tools run through the Runner: `dd` (device write), `gzip`/`xz`/`zstd` (decompression), `blockdev`
 * (device size), `od` (disk identifier), `parted`,
 * `partprobe`, `udevadm`, `sgdisk` (partition table), `blkid`, `mkfs.vfat`, `mcopy`, `xorriso`
 * (config drive), `wipefs`, `fuser`, `mkfs`, `mkswap`, `sync` (partition images).
 */
export {
  CHECKSUM_UNAVAILABLE_MESSAGE,
  type ImageInfo,
  sanitizeImageId,
  validateImageInfo,
  type ValidateImageInfoOptions,
} from "./image_info.ts";
export {
  type ExpectedChecksum,
  type HashAlgorithm,
  resolveChecksum,
  UnusableChecksumError,
} from "./checksum.ts";
export { createImageHttp, type ServerAuthOptions, type TlsOptions } from "./http_client.ts";
export { loadConfigDrive, MAX_CONFIG_DRIVE_BYTES } from "./config_drive.ts";
export { prepareConfigDrivePartition } from "./config_drive_partition.ts";
export { writeConfigDrive } from "./config_drive_write.ts";
export type { Progress } from "./progress.ts";
export {
  type ImageDownloadSettings,
  type StreamImageOptions,
  type StreamImageResult,
  streamImageToDevice,
} from "./write_raw.ts";
export { readDiskIdentifier } from "./disk_identifier.ts";
export {
  fixGpt,
  type PartitionTable,
  readPartitionTable,
  rescanDevice,
  validatePartitioning,
} from "./partition_table.ts";
