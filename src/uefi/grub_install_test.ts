import assert from "node:assert/strict";
import { CommandExecutionError, DeviceNotFound } from "../api/errors.ts";
import { log } from "../log.ts";
import { type Runner, ToolError } from "../system/run.ts";
import { espFstabLine, installGrub } from "./grub_install.ts";

const ROOT_UUID = "9f1c5c1e-1111-4c2b-8c7a-55e5d7b4a0d1";
const ESP_UUID = "6E3A-19F2";
const MNT = "/tmp/agent-grub-test";

interface Call {
  cmd: string;
  args: readonly string[];
  env?: Record<string, string>;
}

/** A Runner for a disk with an ESP (p1) and the root (p2); `fail` makes one command fail. */
function fakeRunner(fail?: (call: Call) => boolean): Runner & { calls: Call[] } {
  const calls: Call[] = [];
  const blkid: Record<string, string> = {
    "/dev/loop7p1": `UUID=${ESP_UUID}\nTYPE=vfat\nPART_ENTRY_UUID=1111\n`,
    "/dev/loop7p2": `UUID=${ROOT_UUID}\nTYPE=ext4\nPART_ENTRY_UUID=2222\n`,
  };
  return {
    calls,
    run(cmd, args, options) {
      const call = { cmd, args, env: options?.env };
      calls.push(call);
      if (fail?.(call)) {
        return Promise.reject(
          new ToolError(
            { command: [cmd, ...args].join(" "), exitCode: 1, stderr: "boom" },
            "exited with code 1",
          ),
        );
      }
      if (cmd === "lsblk") {
        return Promise.resolve({
          code: 0,
          stderr: "",
          stdout: 'NAME="/dev/loop7" TYPE="loop"\nNAME="/dev/loop7p1" TYPE="part"\n' +
            'NAME="/dev/loop7p2" TYPE="part"\n',
        });
      }
      if (cmd === "blkid") {
        return Promise.resolve({ code: 0, stderr: "", stdout: blkid[args.at(-1)!] ?? "" });
      }
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
    pipe() {
      throw new Error("no pipes here");
    },
  };
}

/** The calls after the partition lookup, as `cmd arg arg` lines. */
function sequence(calls: Call[]): string[] {
  return calls.filter((c) => c.cmd !== "lsblk" && c.cmd !== "blkid").map((c) =>
    [c.cmd, ...c.args].join(" ")
  );
}

function options(overrides: Partial<Parameters<typeof installGrub>[1]> = {}) {
  const removed: string[] = [];
  return {
    removed,
    value: {
      log,
      device: "/dev/loop7",
      rootUuid: ROOT_UUID,
      efiSystemPartUuid: null,
      bootMode: "bios" as const,
      makeTempDir: () => Promise.resolve(MNT),
      exists: () => Promise.resolve(false),
      removeDir: (path: string) => {
        removed.push(path);
        return Promise.resolve();
      },
      ...overrides,
    },
  };
}

Deno.test("installGrub() installs BIOS GRUB for the disk from a chroot of the root", async () => {
  const runner = fakeRunner();
  const { value, removed } = options();
  await installGrub(runner, value);
  assert.deepEqual(sequence(runner.calls), [
    `mount /dev/loop7p2 ${MNT}`,
    `mount --bind /dev ${MNT}/dev`,
    `mount --bind /proc ${MNT}/proc`,
    `mount --bind /run ${MNT}/run`,
    `mount -t sysfs none ${MNT}/sys`,
    `chroot ${MNT} /bin/sh -c mount -a -t vfat`,
    `chroot ${MNT} /bin/sh -c grub-install /dev/loop7`,
    `chroot ${MNT} /bin/sh -c grub-mkconfig -o /boot/grub/grub.cfg`,
    `umount -R ${MNT}`,
  ]);
  const mkconfig = runner.calls.find((c) => c.args.at(-1)?.includes("mkconfig"));
  assert.equal(mkconfig?.env?.GRUB_DISABLE_OS_PROBER, "true");
  assert.equal(mkconfig?.env?.GRUB_SAVEDEFAULT, "true");
  assert.match(mkconfig?.env?.PATH ?? "", /\/usr\/sbin/);
  assert.deepEqual(removed, [MNT]);
});

Deno.test("installGrub() uses grub2-* when the image has grub2-install", async () => {
  const runner = fakeRunner();
  const { value } = options({
    exists: (p) => Promise.resolve(p === `${MNT}/usr/sbin/grub2-install`),
  });
  await installGrub(runner, value);
  const lines = sequence(runner.calls);
  assert.ok(lines.includes(`chroot ${MNT} /bin/sh -c grub2-install /dev/loop7`), lines.join("\n"));
  assert.ok(lines.includes(`chroot ${MNT} /bin/sh -c grub2-mkconfig -o /boot/grub2/grub.cfg`));
});

Deno.test("installGrub() for UEFI mounts the ESP, tolerates grub-install, adds fstab", async () => {
  const runner = fakeRunner((c) => c.args.at(-1) === "grub-install --removable");
  const { value } = options({ bootMode: "uefi", efiSystemPartUuid: ESP_UUID });
  await installGrub(runner, value);
  const lines = sequence(runner.calls);
  assert.deepEqual(lines.slice(5, 10), [
    `chroot ${MNT} /bin/sh -c mount -a -t vfat`,
    `chroot ${MNT} /bin/sh -c mkdir -p /boot/efi`,
    `mount /dev/loop7p1 ${MNT}/boot/efi`,
    `chroot ${MNT} /bin/sh -c grub-install`,
    `chroot ${MNT} /bin/sh -c grub-install --removable`,
  ]);
  const fstab = lines.find((l) => l.includes("/etc/fstab"));
  assert.ok(fstab?.includes(espFstabLine(ESP_UUID)), fstab);
  assert.equal(lines.at(-1), `umount -R ${MNT}`);
});

Deno.test("installGrub() unmounts and names the device when grub-install fails", async () => {
  const runner = fakeRunner((c) => c.args.at(-1) === "grub-install /dev/loop7");
  const { value, removed } = options();
  const err = await installGrub(runner, value).then(() => null, (e) => e);
  assert.ok(err instanceof CommandExecutionError, String(err));
  assert.match(err.message, /Installing GRUB2 boot loader to device \/dev\/loop7 failed/);
  assert.equal(sequence(runner.calls).at(-1), `umount -R ${MNT}`);
  assert.deepEqual(removed, [MNT]);
});

Deno.test("installGrub() keeps a directory it could not unmount", async () => {
  const runner = fakeRunner((c) => c.cmd === "umount");
  const { value, removed } = options();
  await assert.rejects(installGrub(runner, value), CommandExecutionError);
  assert.deepEqual(removed, []);
});

Deno.test("installGrub() refuses an unknown root UUID before mounting anything", async () => {
  const runner = fakeRunner();
  const { value } = options({ rootUuid: "00000000-0000-0000-0000-000000000000" });
  await assert.rejects(installGrub(runner, value), DeviceNotFound);
  assert.deepEqual(sequence(runner.calls), []);
});

Deno.test("espFstabLine() uses PARTUUID for a GPT partition UUID", () => {
  assert.equal(espFstabLine(ESP_UUID), `UUID=${ESP_UUID}\t/boot/efi\tvfat\tumask=0077\t0\t1`);
  assert.match(espFstabLine(ROOT_UUID), /^PARTUUID=9f1c5c1e/);
});

/** A temporary directory standing in for the mounted root, holding the image's EFI assets. */
async function rootWithEfiAssets(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "agent-grub-test-" });
  await Deno.mkdir(`${root}/boot/efi/EFI/debian`, { recursive: true });
  await Deno.writeTextFile(`${root}/boot/efi/EFI/debian/grubx64.efi`, "loader");
  return root;
}

Deno.test("installGrub() for UEFI copies the image's EFI assets instead of grub-install", async (t) => {
  const root = await rootWithEfiAssets();
  const uefi = (manageUefi: (() => Promise<boolean>) | null) =>
    options({
      bootMode: "uefi",
      efiSystemPartUuid: ESP_UUID,
      makeTempDir: () => Promise.resolve(root),
      exists: (p) => Promise.resolve(p === `${root}/usr/sbin/grub-mkconfig`),
      manageUefi,
    }).value;
  try {
    await t.step("a ramdisk booted BIOS copies and stops there", async () => {
      const runner = fakeRunner();
      await installGrub(runner, uefi(null));
      const lines = sequence(runner.calls);
      assert.deepEqual(lines.slice(5, 7), [
        `chroot ${root} /bin/sh -c grub-mkconfig -o /boot/grub/grub.cfg`,
        `mcopy -D o -i /dev/loop7p1 -s ${root}/boot/efi/EFI ::/`,
      ]);
      assert.ok(lines[7]?.includes(espFstabLine(ESP_UUID)), lines[7]);
      assert.deepEqual(lines.slice(8), [`umount -R ${root}`]);
    });
    await t.step("boot entries set up: done", async () => {
      const runner = fakeRunner();
      let called = 0;
      await installGrub(runner, uefi(() => Promise.resolve(++called > 0)));
      assert.equal(called, 1);
      assert.ok(!sequence(runner.calls).some((l) => l.includes("grub-install")));
    });
    for (
      const [name, manage] of [
        ["no loader found", () => Promise.resolve(false)],
        ["efibootmgr fails", () => Promise.reject(new Error("EFI variables are not supported"))],
      ] as const
    ) {
      await t.step(`${name}: falls back to grub-install`, async () => {
        const runner = fakeRunner();
        await installGrub(runner, uefi(manage));
        const lines = sequence(runner.calls);
        assert.ok(lines.includes(`chroot ${root} /bin/sh -c grub-install --removable`));
        assert.equal(lines.filter((l) => l.includes("/etc/fstab")).length, 1);
      });
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
