/** A hardware-manager dispatcher for the deploy loop tests. */
import assert from "node:assert/strict";
import type { Dispatcher } from "../hardware/manager.ts";

/** Answers `getOsInstallDevice` with `device`; any other dispatch fails the test. */
export function installDeviceDispatcher(device: string): Dispatcher {
  return {
    dispatch: (name: string) => {
      assert.equal(name, "getOsInstallDevice");
      return Promise.resolve(device);
    },
    dispatchAll: () => Promise.reject(new Error("not used")),
  } as unknown as Dispatcher;
}
