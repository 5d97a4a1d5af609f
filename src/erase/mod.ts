/** Disk metadata erasure and the shared-filesystem guard (spec 09 §3, §5). */
export { eraseDevicesMetadata, type EraseDevicesMetadataOptions } from "./metadata.ts";
export { type ErasableDevice, listErasableDevices } from "./erasable.ts";
export { type BusyWait, DEFAULT_BUSY_WAIT, destroyDiskMetadata } from "./destroy.ts";
export { guardEnabled, safetyCheckBlockDevice } from "./safety.ts";
