/**
 * Malformed root device hints reach the real agent process through its HTTP API: the commands
 * that choose the install device (`deploy.execute_deploy_step` with `write_image`, and
 * `standby.prepare_image`, which reads the cached node) answer 400 naming the hint before
 * anything starts, and valid hints that match nothing still start and fail with DeviceNotFound.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createLoopDevice } from "./harness/loop.ts";
import { startStandaloneAgent } from "./harness/standalone_agent.ts";

type Json = Record<string, unknown>;

const UUID = "0d1f5ad4-5b0e-4c57-8d0a-3d2b6a7e9c11";

Deno.test("the agent API answers 400 naming a malformed root device hint", async (t) => {
  await using disk = await createLoopDevice({ sizeMiB: 16 });
  const before = createHash("sha256").update(await Deno.readFile(disk.file)).digest("hex");
  await using agent = await startStandaloneAgent({ onlyBlockDevices: [disk.path] });
  const imageInfo = {
    id: "disk.img",
    // Never fetched: every case fails before the download starts.
    urls: ["http://127.0.0.1:9/disk.img"],
    disk_format: "raw",
    os_hash_algo: "sha256",
    os_hash_value: "0".repeat(64),
  };
  const node = (rootDevice: Json) => ({ uuid: UUID, properties: { root_device: rootDevice } });
  const writeImage = (rootDevice: Json) =>
    agent.command("deploy.execute_deploy_step", {
      step: { step: "write_image", interface: "deploy", args: { image_info: imageInfo } },
      node: node(rootDevice),
      ports: [],
    });

  const malformed: [string, Json, RegExp][] = [
    ["unknown key", { colour: "red" }, /Invalid root device hints "colour": unknown key/],
    [
      "operator without a value",
      { model: "<in>" },
      /Invalid root device hint "model": "<in>" cannot be parsed/,
    ],
    [
      "operator that is not one",
      { size: "=> 10" },
      /Invalid root device hint "size": "=> 10" cannot be parsed/,
    ],
    [
      "non-numeric size",
      { size: ">= lots" },
      /Invalid root device hint "size": ">= lots" is not a positive integer/,
    ],
    ["non-Boolean rotational", { rotational: "maybe" }, /hint "rotational": "maybe"/],
  ];

  for (const [label, hints, pattern] of malformed) {
    await t.step(`write_image: ${label}`, async () => {
      const res = await writeImage(hints);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.faultcode, "Client");
      const text = res.body.faultstring as string;
      assert.match(text, /^Invalid command parameters: Cannot write the image: node 0d1f5ad4/);
      assert.match(text, /properties\.root_device is invalid/);
      assert.match(text, pattern);
    });
  }

  await t.step("prepare_image checks the hints of the cached node", async () => {
    const cached = await agent.command("deploy.get_deploy_steps", {
      node: node({ size: "big" }),
      ports: [],
    });
    assert.equal(cached.status, 200);
    const res = await agent.command("standby.prepare_image", { image_info: imageInfo });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(
      res.body.faultstring as string,
      /Cannot prepare the image: node 0d1f5ad4.* properties\.root_device is invalid\. Invalid root device hint "size": "big" is not a positive integer/,
    );
  });

  await t.step("a rejected command is not recorded", async () => {
    const res = await fetch(`${agent.url}/v1/commands/`);
    const list = (await res.json()).commands as Json[];
    assert.deepEqual(list.map((c) => c.command_name), ["get_deploy_steps"]);
  });

  await t.step("valid hints matching nothing start and fail with DeviceNotFound", async () => {
    const res = await writeImage({ name: "/dev/sdz" });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.command_status, "FAILED");
    const error = res.body.command_error as Json;
    assert.equal(error.type, "DeviceNotFound");
    assert.match(error.details as string, /using these hints \{"name":"\/dev\/sdz"\}/);
    assert.match(error.details as string, new RegExp(`Candidate devices: ${disk.path} `));
  });

  const after = createHash("sha256").update(await Deno.readFile(disk.file)).digest("hex");
  assert.equal(after, before, "no case may write the loop device");
});
