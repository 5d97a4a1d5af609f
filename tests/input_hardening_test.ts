/**
 * Input hardening (issue #7 scope 4) against the real agent process: values that would reach a
 * tool argument or a fetch are held to the shape of their field, and the 400 names the field and
 * the value. Each refusal has a matching accepted request, so the test cannot pass by refusing
 * everything.
 */
import assert from "node:assert/strict";
import { startStandaloneAgent } from "./harness/standalone_agent.ts";

const IMAGE_INFO = {
  id: "img-1",
  urls: ["http://127.0.0.1:9/img.raw"],
  disk_format: "raw",
  os_hash_algo: "sha256",
  os_hash_value: "0".repeat(64),
};

interface Case {
  name: string;
  command: string;
  params: Record<string, unknown>;
  /** The field the 400 must name, and the rejected value it must quote. */
  field: string;
  value: string;
}

const REFUSED: Case[] = [
  {
    name: "a root_uuid that reads as a tool option",
    command: "image.install_bootloader",
    params: { root_uuid: "--force" },
    field: "params.root_uuid",
    value: "--force",
  },
  {
    name: "an efi_system_part_uuid that is a path",
    command: "image.install_bootloader",
    params: { root_uuid: "0x00000000", efi_system_part_uuid: "../../etc/shadow" },
    field: "params.efi_system_part_uuid",
    value: "../../etc/shadow",
  },
  {
    name: "a prep_boot_part_uuid with a space",
    command: "image.install_bootloader",
    params: { prep_boot_part_uuid: "1234 /dev/sda" },
    field: "params.prep_boot_part_uuid",
    value: "1234 /dev/sda",
  },
  {
    name: "an unknown target_boot_mode",
    command: "image.install_bootloader",
    params: { target_boot_mode: "-efi" },
    field: "params.target_boot_mode",
    value: "-efi",
  },
  {
    name: "an image URL on the local file system",
    command: "standby.prepare_image",
    params: { image_info: { ...IMAGE_INFO, urls: ["file:///etc/shadow"] } },
    field: "image_info.urls[0]",
    value: "file:///etc/shadow",
  },
  {
    name: "a proxy that is not an HTTP or SOCKS URL",
    command: "standby.prepare_image",
    params: { image_info: { ...IMAGE_INFO, proxies: { http: "unix:///run/docker.sock" } } },
    field: "image_info.proxies.http",
    value: "unix:///run/docker.sock",
  },
];

/** Same commands and fields with values of the right shape: not a 400. */
const ACCEPTED: { name: string; command: string; params: Record<string, unknown> }[] = [
  {
    name: "whole-disk identifiers and a FAT serial",
    command: "image.install_bootloader",
    params: {
      root_uuid: "0x00000000",
      efi_system_part_uuid: "6E3A-19F2",
      prep_boot_part_uuid: null,
      target_boot_mode: "uefi",
      ignore_bootloader_failure: true,
    },
  },
];

Deno.test("the agent answers 400 naming the field for path- and option-like values", async (t) => {
  await using agent = await startStandaloneAgent();
  for (const c of REFUSED) {
    await t.step(`${c.command}: ${c.name}`, async () => {
      const { status, body } = await agent.command(c.command, c.params, true);
      assert.equal(status, 400, JSON.stringify(body));
      const details = String(body.details ?? body.faultstring);
      assert.ok(details.includes(c.field), `names ${c.field}: ${details}`);
      assert.ok(details.includes(c.value), `quotes the value: ${details}`);
    });
  }
  for (const c of ACCEPTED) {
    await t.step(`${c.command}: accepts ${c.name}`, async () => {
      const { status, body } = await agent.command(c.command, c.params, true);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.command_name, c.command.split(".")[1]);
    });
  }
  const records = await fetch(`${agent.url}/v1/commands/`, {
    headers: { "x-agent-token": agent.token },
  }).then((r) => r.json());
  assert.equal(
    records.commands.length,
    ACCEPTED.length,
    "refused requests are not recorded (spec 03 §10)",
  );
});
