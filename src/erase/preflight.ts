/**
 * What the erase steps share: the agent options they take, and the checks they make on all
 * their devices before touching the first one, so that one refusal leaves every disk as it
 * was: the `--protect-host` fence, then the shared-filesystem guard (spec 09 §2, §5).
 */
import type { Node } from "../hardware/manager.ts";
import type { BlockDevice } from "../inventory/types.ts";
import type { Logger } from "../log.ts";
import { assertMayWrite, type FenceOptions } from "../system/fence.ts";
import type { Runner } from "../system/run.ts";
import { type ProbedEntry, probeDevice } from "./probe.ts";
import { checkProbedDevice, guardEnabled } from "./safety.ts";

export interface EraseStepOptions {
  runner: Runner;
  log: Logger;
  node: Node;
  /** `--only-block-devices`: non-empty restricts erasure to exactly these paths. */
  onlyBlockDevices: readonly string[];
  /** Agent option `guard-special-filesystems`. */
  guardSpecialFilesystems: boolean;
  /** `--protect-host` fence: refuse (before touching anything) devices it does not allow. */
  fence?: FenceOptions;
}

/**
 * Throws, having touched nothing, if the fence or the guard refuses any of `devices` (`action`
 * words the fence's refusal). A device given without its probe is probed only when the guard
 * is on.
 */
export async function assertMayEraseAll(
  options: EraseStepOptions,
  devices: readonly { device: BlockDevice; probe?: readonly ProbedEntry[] }[],
  action: string,
): Promise<void> {
  const { fence } = options;
  if (fence) {
    for (const { device } of devices) assertMayWrite(fence, device.name, action);
  }
  if (!guardEnabled(options.node, options.guardSpecialFilesystems)) return;
  for (const { device, probe } of devices) {
    checkProbedDevice(device.name, probe ?? (await probeDevice(options.runner, device.name)));
  }
}
