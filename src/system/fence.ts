/**
 * The last guard before anything destructive touches a block device. With `--protect-host` the
 * agent runs on a machine that is not its to wipe (a developer's laptop, CI): it may then write
 * or erase only devices named in `--only-block-devices`, and nothing at all when that is empty.
 */
import { ProtectedDeviceError } from "../api/errors.ts";

export interface FenceOptions {
  protectHost: boolean;
  onlyBlockDevices: readonly string[];
}

/** Throws unless `device` may be written; `action` names what was refused. */
export function assertMayWrite(options: FenceOptions, device: string, action: string): void {
  if (!options.protectHost) {
    if (options.onlyBlockDevices.length === 0 || options.onlyBlockDevices.includes(device)) return;
    throw new ProtectedDeviceError(
      `Refusing to ${action} ${device}: it is not in --only-block-devices`,
    );
  }
  if (!options.onlyBlockDevices.includes(device)) {
    throw new ProtectedDeviceError(
      `Refusing to ${action} ${device}: --protect-host allows writes only to devices named in ` +
        "--only-block-devices",
    );
  }
}
