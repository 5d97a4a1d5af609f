import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { fakeRunner, type Handler } from "./_test_runner.ts";
import { erasePstore, findPstoreMount } from "./pstore.ts";

const log = new Logger({ test: "pstore" });

// /proc/mounts of a Debian 12 machine (systemd mounts pstore), trimmed.
const MOUNTS = [
  "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0",
  "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
  "pstore /sys/fs/pstore pstore rw,nosuid,nodev,noexec,relatime 0 0",
  "/dev/vda1 / ext4 rw,relatime,errors=remount-ro 0 0",
  "",
].join("\n");

function host(mounts: string, entries: string[]): Handler {
  return (line) => {
    if (line === "cat -- /proc/mounts") return mounts;
    if (line.startsWith("find /sys/fs/pstore -mindepth 1 -maxdepth 1")) {
      return entries.map((e) => `${e}\n`).join("");
    }
    if (line === "find /sys/fs/pstore -mindepth 1 -delete") return "";
    return undefined;
  };
}

Deno.test("findPstoreMount() finds the pstore line and unescapes the path", () => {
  assert.equal(findPstoreMount(MOUNTS), "/sys/fs/pstore");
  assert.equal(findPstoreMount("pstore /mnt/my\\040store pstore rw 0 0\n"), "/mnt/my store");
  assert.equal(findPstoreMount("sysfs /sys sysfs rw 0 0\n"), null);
  // A device named pstore mounted as something else is not the pstore.
  assert.equal(findPstoreMount("pstore /mnt ext4 rw 0 0\n"), null);
});

Deno.test("erasePstore() deletes every entry of the pstore mount", async () => {
  const entries = ["dmesg-efi-170000000001001", "dmesg-efi-170000000002001"];
  const runner = fakeRunner(host(MOUNTS, entries));
  assert.deepEqual(await erasePstore(runner, { log, protectHost: false }), entries);
  assert.equal(runner.calls.at(-1), "find /sys/fs/pstore -mindepth 1 -delete");
});

Deno.test("erasePstore() deletes nothing under --protect-host or without a pstore", async () => {
  const guarded = fakeRunner(host(MOUNTS, ["dmesg-ramoops-0"]));
  assert.deepEqual(await erasePstore(guarded, { log, protectHost: true }), ["dmesg-ramoops-0"]);
  assert.ok(!guarded.calls.some((c) => c.includes("-delete")));

  const none = fakeRunner(host("sysfs /sys sysfs rw 0 0\n", []));
  assert.deepEqual(await erasePstore(none, { log, protectHost: false }), []);
  assert.deepEqual(none.calls, ["cat -- /proc/mounts"]);
});
