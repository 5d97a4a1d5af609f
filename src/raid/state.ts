/**
 * What RAID creation in this boot decided for install-device selection (spec 07 §4, 12 §3
 * step 9). One instance lives in the generic manager, shared by its RAID steps and
 * `getOsInstallDevice`.
 */
export interface RaidState {
  /** The md device created with `is_root_volume: true`, if any. */
  rootVolume: string | null;
  /** Other md devices created, with their holder disks and component partitions. */
  otherDevices: string[];
}

export function createRaidState(): RaidState {
  return { rootVolume: null, otherDevices: [] };
}
