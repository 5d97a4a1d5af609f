/**
 * zod schemas for request values that later become tool arguments (issue #7 scope 4). A value
 * that reaches a tool as a positional argument must not be readable as an option ("-...") nor as
 * a path ("/", ".."), so it is held to the shape its field really has instead of "any string".
 */
import { z } from "zod";

/**
 * What `get_partition_uuids` hands back and the conductor passes on to `install_bootloader`:
 * a disk identifier (`0x3a1b2c4d`), a filesystem UUID, a FAT serial (`6E3A-19F2`) or an md UUID
 * (`a1b2c3d4:...`). Starts with a letter or digit; no "/", ".", spaces or leading "-".
 */
export const PARTITION_UUID = /^(0x[0-9a-fA-F]{8}|[0-9A-Za-z][0-9A-Za-z:-]{0,63})$/;

export function partitionUuidSchema() {
  return z.string().regex(PARTITION_UUID, {
    error: (issue) =>
      `must be a partition or disk UUID (letters, digits, "-" and ":", not starting with "-"), ` +
      `got ${JSON.stringify(issue.input)}`,
  }).nullable().optional();
}

/** The boot modes a conductor sends (`[deploy]default_boot_mode`, node `boot_mode`). */
export function bootModeSchema() {
  return z.enum(["bios", "uefi"], {
    error: (issue) => `must be "bios" or "uefi", got ${JSON.stringify(issue.input)}`,
  }).nullable().optional();
}
