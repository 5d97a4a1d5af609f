/**
 * Up-front validation of a node's root device hints and skip list for commands that choose the
 * install device (`standby.prepare_image`, the `write_image` deploy step). The conductor checks
 * hints with the same grammar, so bad hints normally never arrive; when they do (an older
 * conductor, a hand-made request), answering 400 naming the hint before anything starts is
 * clearer than a deploy that fails later with `DeviceNotFound`.
 */
import { InvalidCommandParamsError } from "../api/errors.ts";
import type { Node } from "../hardware/manager.ts";
import {
  getRootDeviceHints,
  InvalidRootDeviceHintError,
  parseRootDeviceHints,
} from "./root_device.ts";
import { getSkipList } from "./skip_list.ts";

/** Where `getRootDeviceHints` took the hints from, for the message. */
function hintSource(node: Node | null): string {
  const fromInstance = node?.instance_info?.root_device;
  if (fromInstance !== undefined && getRootDeviceHints(node) === fromInstance) {
    return "instance_info.root_device";
  }
  return "properties.root_device";
}

/**
 * Throws `InvalidCommandParamsError` (400) naming the action, the node, the field and the hint
 * when `node`'s root device hints or `skip_block_devices` entries do not validate.
 */
export function assertValidNodeHints(node: Node | null, action: string): void {
  const nodeName = node?.uuid ? `node ${node.uuid}` : "the node";
  try {
    parseRootDeviceHints(getRootDeviceHints(node));
  } catch (err) {
    if (!(err instanceof InvalidRootDeviceHintError)) throw err;
    throw new InvalidCommandParamsError(
      `Cannot ${action}: ${nodeName} ${hintSource(node)} is invalid. ${err.message}`,
      { cause: err },
    );
  }
  try {
    getSkipList(node);
  } catch (err) {
    if (!(err instanceof InvalidRootDeviceHintError)) throw err;
    throw new InvalidCommandParamsError(
      `Cannot ${action}: ${nodeName} properties.skip_block_devices is invalid. ${err.message}`,
      { cause: err },
    );
  }
}
