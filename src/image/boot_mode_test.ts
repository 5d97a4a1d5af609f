import assert from "node:assert/strict";
import { diskLabel, nodeBootMode, parseCapabilities } from "./boot_mode.ts";
import { validateImageInfo } from "./image_info.ts";

const info = validateImageInfo(
  { id: "p.img", urls: ["http://127.0.0.1/p.img"], checksum: "a".repeat(64) },
  { md5Enabled: false },
);

Deno.test("parseCapabilities() reads a dict, a JSON string and k:v pairs", () => {
  assert.deepEqual(parseCapabilities({ boot_mode: "uefi", secure_boot: true }), {
    boot_mode: "uefi",
    secure_boot: "true",
  });
  assert.deepEqual(parseCapabilities('{"disk_label": "gpt"}'), { disk_label: "gpt" });
  assert.deepEqual(parseCapabilities("boot_mode:bios, disk_label:gpt"), {
    boot_mode: "bios",
    disk_label: "gpt",
  });
  assert.deepEqual(parseCapabilities("{broken"), {});
  assert.deepEqual(parseCapabilities(42), {});
});

Deno.test("nodeBootMode() follows IPA's order of sources", async (t) => {
  await t.step("secure_boot wins over everything", () => {
    const node = {
      properties: { capabilities: "secure_boot:true,boot_mode:bios" },
      instance_info: { deploy_boot_mode: "bios" },
    };
    assert.equal(nodeBootMode(node, { bootedUefi: false }), "uefi");
  });
  await t.step("instance_info.deploy_boot_mode before the capability", () => {
    const node = {
      properties: { capabilities: { boot_mode: "uefi" } },
      instance_info: { deploy_boot_mode: "bios" },
    };
    assert.equal(nodeBootMode(node, { bootedUefi: true }), "bios");
  });
  await t.step("capability, then driver_internal_info, then image_info", () => {
    assert.equal(
      nodeBootMode({ properties: { capabilities: "boot_mode:uefi" } }, { bootedUefi: false }),
      "uefi",
    );
    assert.equal(
      nodeBootMode({ driver_internal_info: { deploy_boot_mode: "uefi" } }, { bootedUefi: false }),
      "uefi",
    );
    assert.equal(
      nodeBootMode(null, { info: { ...info, deploy_boot_mode: "uefi" }, bootedUefi: false }),
      "uefi",
    );
  });
  await t.step("unknown values fall back to how the ramdisk booted", () => {
    const node = { instance_info: { deploy_boot_mode: "legacy" } };
    assert.equal(nodeBootMode(node, { bootedUefi: true }), "uefi");
    assert.equal(nodeBootMode(node, { bootedUefi: false }), "bios");
  });
});

Deno.test("diskLabel() is gpt for UEFI, else the disk_label capability, else msdos", () => {
  const gptCap = { properties: { capabilities: "disk_label:gpt" } };
  assert.equal(diskLabel(null, { bootMode: "uefi" }), "gpt");
  assert.equal(diskLabel(gptCap, { bootMode: "bios" }), "gpt");
  assert.equal(diskLabel(null, { bootMode: "bios", info: { ...info, disk_label: "gpt" } }), "gpt");
  assert.equal(diskLabel(null, { bootMode: "bios" }), "msdos");
  const msdosUefi = { properties: { capabilities: "disk_label:msdos" } };
  assert.equal(diskLabel(msdosUefi, { bootMode: "uefi" }), "gpt");
});
