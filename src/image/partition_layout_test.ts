import assert from "node:assert/strict";
import { layoutMiB, partedArguments, planLayout } from "./partition_layout.ts";

const MIB = 1024 * 1024;

Deno.test("planLayout() UEFI: ESP first, root last, each right after the previous", () => {
  const plan = planLayout({
    rootMiB: 100,
    swapMiB: 16,
    ephemeralMiB: 32,
    configDriveBytes: 2 * MIB + 1,
    bootMode: "uefi",
    label: "msdos", // ignored: UEFI is always GPT
  });
  assert.deepEqual(plan.map((p) => [p.role, p.number, p.startMiB, p.endMiB]), [
    ["efi system partition", 1, 1, 551],
    ["ephemeral", 2, 551, 583],
    ["swap", 3, 583, 599],
    ["configdrive", 4, 599, 602],
    ["root", 5, 602, 702],
  ]);
  assert.deepEqual(plan[0]!.flags, ["boot"]);
  assert.deepEqual(plan[4]!.flags, []);
  assert.equal(layoutMiB(plan, "gpt"), 703);
});

Deno.test("planLayout() BIOS: a bios_grub partition on GPT, a boot flag on root for msdos", () => {
  const gpt = planLayout({
    rootMiB: 10,
    swapMiB: 0,
    ephemeralMiB: 0,
    configDriveBytes: 0,
    bootMode: "bios",
    label: "gpt",
  });
  assert.deepEqual(gpt.map((p) => [p.role, p.startMiB, p.endMiB, p.flags]), [
    ["BIOS Boot partition", 1, 2, ["bios_grub"]],
    ["root", 2, 12, []],
  ]);
  const msdos = planLayout({
    rootMiB: 10,
    swapMiB: 4,
    ephemeralMiB: 0,
    configDriveBytes: 0,
    bootMode: "bios",
    label: "msdos",
  });
  assert.deepEqual(msdos.map((p) => [p.role, p.startMiB, p.endMiB, p.flags]), [
    ["swap", 1, 5, []],
    ["root", 5, 15, ["boot"]],
  ]);
  assert.equal(layoutMiB(msdos, "msdos"), 15);
});

Deno.test("planLayout() refuses negative or fractional sizes", () => {
  assert.throws(
    () =>
      planLayout({
        rootMiB: 1.5,
        swapMiB: 0,
        ephemeralMiB: 0,
        configDriveBytes: 0,
        bootMode: "bios",
        label: "msdos",
      }),
    /rootMiB must be a non-negative integer/,
  );
});

Deno.test("partedArguments() writes the label and every partition in one call", () => {
  const plan = planLayout({
    rootMiB: 10,
    swapMiB: 4,
    ephemeralMiB: 0,
    configDriveBytes: 0,
    bootMode: "uefi",
    label: "gpt",
  });
  assert.deepEqual(partedArguments("/dev/loop3", "gpt", plan), [
    ..."-a optimal -s /dev/loop3 -- unit MiB mklabel gpt".split(" "),
    ..."mkpart primary fat32 1 551 set 1 boot on".split(" "),
    ..."mkpart primary linux-swap 551 555".split(" "),
    ..."mkpart primary 555 565".split(" "),
  ]);
});
