import assert from "node:assert/strict";
import { DeploymentError } from "../api/errors.ts";
import { log } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { copyEfiAssets, findEfiAssets } from "./efi_assets.ts";

/** A temporary image root with `files` (path -> content) written under it. */
async function imageRoot(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "efi-assets-test-" });
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${path}`, content);
  }
  return root;
}

function recordingRunner(): Runner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run(cmd, args, options) {
      assert.equal(options?.env?.MTOOLS_SKIP_CHECK, "1");
      calls.push([cmd, ...args]);
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
    pipe() {
      throw new Error("no pipes here");
    },
  };
}

Deno.test("findEfiAssets() lists the image's EFI files and the directories of its loaders", async () => {
  const root = await imageRoot({
    "boot/efi/EFI/debian/grubx64.efi": "x",
    "boot/efi/EFI/debian/grub.cfg": "cfg",
    "boot/efi/EFI/BOOT/BOOTX64.EFI": "x",
    "boot/efi/EFI/BOOT/fbx64.efi": "x",
    "boot/efi/EFI/tools/readme.txt": "t",
  });
  try {
    assert.deepEqual(await findEfiAssets(root), {
      files: [
        "BOOT/BOOTX64.EFI",
        "BOOT/fbx64.efi",
        "debian/grub.cfg",
        "debian/grubx64.efi",
        "tools/readme.txt",
      ],
      loaderDirs: ["BOOT", "debian"],
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("findEfiAssets() is null without a plain, non-empty boot/efi/EFI", async (t) => {
  await t.step("no directory", async () => {
    const root = await imageRoot({ "etc/hostname": "x" });
    assert.equal(await findEfiAssets(root), null);
    await Deno.remove(root, { recursive: true });
  });
  await t.step("an empty directory", async () => {
    const root = await imageRoot({});
    await Deno.mkdir(`${root}/boot/efi/EFI`, { recursive: true });
    assert.equal(await findEfiAssets(root), null);
    await Deno.remove(root, { recursive: true });
  });
  await t.step("boot/efi is a link out of the image", async () => {
    const outside = await imageRoot({ "EFI/debian/grubx64.efi": "host file" });
    const root = await imageRoot({});
    await Deno.mkdir(`${root}/boot`);
    await Deno.symlink(outside, `${root}/boot/efi`);
    assert.equal(await findEfiAssets(root), null);
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  });
});

Deno.test("findEfiAssets() refuses a link inside the EFI tree", async () => {
  const root = await imageRoot({ "boot/efi/EFI/debian/grubx64.efi": "x" });
  try {
    await Deno.symlink("/etc/shadow", `${root}/boot/efi/EFI/debian/grub.cfg`);
    await assert.rejects(findEfiAssets(root), (err: Error) => {
      assert.ok(err instanceof DeploymentError);
      assert.match(err.message, /"\/boot\/efi\/EFI\/debian\/grub.cfg" is a link/);
      return true;
    });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("copyEfiAssets() copies the tree with mcopy, then grub2 files next to loaders", async () => {
  const root = await imageRoot({
    "boot/efi/EFI/fedora/grubx64.efi": "x",
    "boot/efi/EFI/fedora/grubenv": "own env",
    "boot/efi/EFI/BOOT/BOOTX64.EFI": "x",
    "boot/grub2/grub.cfg": "cfg",
    "boot/grub2/grubenv": "env",
  });
  try {
    const assets = (await findEfiAssets(root))!;
    const runner = recordingRunner();
    await copyEfiAssets(runner, { log, root, esp: "/dev/sda1", assets });
    const mcopy = ["mcopy", "-D", "o", "-i", "/dev/sda1"];
    assert.deepEqual(runner.calls, [
      [...mcopy, "-s", `${root}/boot/efi/EFI`, "::/"],
      [...mcopy, `${root}/boot/grub2/grub.cfg`, "::/EFI/BOOT/grub.cfg"],
      [...mcopy, `${root}/boot/grub2/grub.cfg`, "::/EFI/fedora/grub.cfg"],
      [...mcopy, `${root}/boot/grub2/grubenv`, "::/EFI/BOOT/grubenv"],
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("copyEfiAssets() skips a grub2 config that is a link", async () => {
  const root = await imageRoot({ "boot/efi/EFI/debian/grubx64.efi": "x", "boot/grub2/x": "" });
  try {
    await Deno.symlink("/etc/passwd", `${root}/boot/grub2/grub.cfg`);
    const assets = (await findEfiAssets(root))!;
    const runner = recordingRunner();
    await copyEfiAssets(runner, { log, root, esp: "/dev/sda1", assets });
    assert.equal(runner.calls.length, 1, runner.calls.map((c) => c.join(" ")).join("\n"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
