/**
 * `installGrub` on a software RAID root (spec 12 §7 via `prepareRaidGrub`'s plan): the root is a
 * partition of the md array (lsblk TYPE "md"), BIOS GRUB goes to every holder disk, UEFI GRUB
 * into the RAIDed ESP without looking the image's (wiped) ESP up.
 */
import assert from "node:assert/strict";
import { fakeRunner } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { installGrub } from "../uefi/grub_install.ts";

const log = new Logger({ test: "grub_on_md" });
const ROOT_UUID = "9f1c5c1e-1111-4c2b-8c7a-55e5d7b4a0d1";
const MNT = "/tmp/agent-grub-md-test";

function machine() {
  return fakeRunner((line, cmd, args) => {
    if (line === "lsblk -P -p -n -o NAME,TYPE /dev/md127") {
      return 'NAME="/dev/md127" TYPE="raid1"\nNAME="/dev/md127p1" TYPE="md"\n' +
        'NAME="/dev/md127p2" TYPE="md"\n';
    }
    if (cmd === "blkid") {
      return args.at(-1) === "/dev/md127p2" ? `UUID=${ROOT_UUID}\nTYPE=ext4\n` : { code: 2 };
    }
    if (cmd === "mount" || cmd === "umount" || cmd === "chroot") return "";
    return undefined;
  });
}

function options(extra: Partial<Parameters<typeof installGrub>[1]>) {
  return {
    log,
    device: "/dev/md127",
    rootUuid: ROOT_UUID,
    efiSystemPartUuid: null,
    bootMode: "bios" as const,
    makeTempDir: () => Promise.resolve(MNT),
    exists: () => Promise.resolve(false),
    removeDir: () => Promise.resolve(),
    ...extra,
  };
}

Deno.test("installGrub() on an md root installs BIOS GRUB on every holder disk", async () => {
  const runner = machine();
  await installGrub(runner, options({ grubDisks: ["/dev/vda", "/dev/vdb"] }));
  assert.ok(runner.calls.includes(`mount /dev/md127p2 ${MNT}`));
  assert.deepEqual(runner.calls.filter((c) => / grub-install/.test(c)), [
    `chroot ${MNT} /bin/sh -c grub-install /dev/vda`,
    `chroot ${MNT} /bin/sh -c grub-install /dev/vdb`,
  ]);
});

Deno.test("installGrub() on an md root mounts the RAIDed ESP for UEFI GRUB", async () => {
  // No partition carries CAFE-1234 any more (relocated, then wiped): a lookup would throw.
  const runner = machine();
  await installGrub(
    runner,
    options({ bootMode: "uefi", efiSystemPartUuid: "CAFE-1234", espDevice: "/dev/md126" }),
  );
  assert.ok(runner.calls.includes(`mount /dev/md126 ${MNT}/boot/efi`));
  assert.deepEqual(runner.calls.filter((c) => / grub-install/.test(c)), [
    `chroot ${MNT} /bin/sh -c grub-install`,
    `chroot ${MNT} /bin/sh -c grub-install --removable`,
  ]);
  assert.ok(runner.calls.some((c) => c.includes("UUID=CAFE-1234") && c.includes("/etc/fstab")));
});
