/** Root device hints (spec 07) and the skip list (spec 04 §9). */
export {
  findDevicesByHints,
  getRootDeviceHints,
  type Hint,
  InvalidRootDeviceHintError,
  matchDevice,
  normalizeHintExpression,
  parseRootDeviceHints,
  ROOT_DEVICE_HINT_TYPES,
  type RootDeviceHints,
  selectRootDevice,
} from "./root_device.ts";
export {
  applySkipList,
  EMPTY_SKIP_LIST,
  findSkippedDevices,
  getSkipList,
  type SkipList,
} from "./skip_list.ts";
export {
  findOsInstallDevice,
  type InstallDeviceOptions,
  rootDeviceHintsForDeploy,
} from "./install_device.ts";
