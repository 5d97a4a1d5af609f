import assert from "node:assert/strict";
import { assertMayWrite } from "./fence.ts";
import { ProtectedDeviceError } from "../api/errors.ts";

Deno.test("assertMayWrite() allows only fenced devices under --protect-host", () => {
  const fenced = { protectHost: true, onlyBlockDevices: ["/dev/loop7"] };
  assertMayWrite(fenced, "/dev/loop7", "write an image to");
  assert.throws(
    () => assertMayWrite(fenced, "/dev/vda", "write an image to"),
    (err: Error) =>
      err instanceof ProtectedDeviceError &&
      err.message.includes("Refusing to write an image to /dev/vda"),
  );
  assert.throws(
    () => assertMayWrite({ protectHost: true, onlyBlockDevices: [] }, "/dev/loop7", "erase"),
    ProtectedDeviceError,
  );
});

Deno.test("assertMayWrite() honours --only-block-devices without --protect-host", () => {
  assertMayWrite({ protectHost: false, onlyBlockDevices: [] }, "/dev/sda", "erase");
  assertMayWrite({ protectHost: false, onlyBlockDevices: ["/dev/sdb"] }, "/dev/sdb", "erase");
  assert.throws(
    () => assertMayWrite({ protectHost: false, onlyBlockDevices: ["/dev/sdb"] }, "/dev/sda", "x"),
    ProtectedDeviceError,
  );
});
