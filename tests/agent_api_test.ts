/**
 * The real agent process (standalone, production permission set) on 127.0.0.1, driven through
 * its HTTP API against loop devices: fencing with --only-block-devices, bad input, image writes
 * and metadata erasure.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createLoopDevice, type LoopDevice, readBacking, writeBacking } from "./harness/loop.ts";
import { buildTestImage, startImageServer } from "./harness/image_server.ts";
import { startStandaloneAgent } from "./harness/standalone_agent.ts";

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function backingDigest(disk: LoopDevice): Promise<string> {
  return sha256(await Deno.readFile(disk.file));
}

type Json = Record<string, unknown>;

Deno.test("the agent API fences disks, validates input and writes and erases a loop device", async (t) => {
  // The install disk must be ≥ 4 GiB for the default rule (spec 07 §5); the file is sparse.
  await using target = await createLoopDevice({ sizeMiB: 4608 });
  await using bystander = await createLoopDevice({ sizeMiB: 64 });
  await writeBacking(bystander, 0, crypto.getRandomValues(new Uint8Array(65536)));
  const bystanderBefore = await backingDigest(bystander);

  await using image = await buildTestImage({
    sizeBytes: 3 * 1024 * 1024 + 123,
    table: "msdos",
    diskSignature: 0x12345678,
  });
  const digest = sha256(image.bytes);
  const qcow2 = new Uint8Array(4096);
  qcow2.set([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]);
  await using server = startImageServer({
    "/disk.img": { body: image.bytes },
    "/fake-raw.img": { body: qcow2 },
  });
  await using agent = await startStandaloneAgent({
    onlyBlockDevices: [target.path],
    // A checksum mismatch is retried like IPA (10 attempts, 10 s apart); keep the test short.
    extraArgs: [
      "--image-download-connection-retries",
      "1",
      "--image-download-connection-retry-interval",
      "0",
    ],
  });
  const node = { uuid: "1be26c0b-03f2-4d2e-ae87-c02d7f33c123", properties: {} };
  const imageInfo = (extra: Json = {}) => ({
    id: "disk.img",
    urls: [server.url("/disk.img")],
    disk_format: "raw",
    container_format: "bare",
    stream_raw_images: true,
    os_hash_algo: "sha256",
    os_hash_value: digest,
    ...extra,
  });

  async function raw(body: string): Promise<{ status: number; json: Json }> {
    const res = await fetch(`${agent.url}/v1/commands/?wait=true&agent_token=${agent.token}`, {
      method: "POST",
      body,
    });
    return { status: res.status, json: await res.json() };
  }
  async function stillServes() {
    const res = await agent.command("clean.get_clean_steps", { node, ports: [] });
    assert.equal(res.status, 200);
    assert.equal(res.body.command_status, "SUCCEEDED");
  }

  await t.step("inventory and install-device choice see only --only-block-devices", async () => {
    const info = await agent.command("poll.get_hardware_info", {});
    const disks = ((info.body.command_result as Json).disks as { name: string }[]).map((d) =>
      d.name
    );
    assert.deepEqual(disks, [target.path]);
    const interfaces = (info.body.command_result as Json).interfaces as { mac_address: string }[];
    assert.ok(interfaces.length > 0, "at least one NIC with a MAC");
  });

  await t.step("bad input gets the documented error and the agent keeps serving", async (s) => {
    const cases: [string, string, number, RegExp][] = [
      ["malformed JSON", "{not json", 400, /Missing or invalid name or params/],
      ["unknown command", JSON.stringify({ name: "standby.frob", params: {} }), 400, /frob/],
      ["unknown extension", JSON.stringify({ name: "nope.x", params: {} }), 404, /nope/],
      [
        "missing parameter",
        JSON.stringify({ name: "deploy.execute_deploy_step", params: { step: {} } }),
        400,
        /params\.node/,
      ],
      [
        "wrong type",
        JSON.stringify({ name: "standby.prepare_image", params: { image_info: "x" } }),
        400,
        /params\.image_info/,
      ],
      [
        "image_info without any checksum",
        JSON.stringify({
          name: "standby.prepare_image",
          params: { image_info: { id: "a", urls: ["http://127.0.0.1:1/a"] } },
        }),
        400,
        /Image checksum is not available/,
      ],
      [
        "image_info with an empty url list",
        JSON.stringify({
          name: "standby.prepare_image",
          params: { image_info: imageInfo({ urls: [] }) },
        }),
        400,
        /urls/,
      ],
    ];
    for (const [label, body, status, pattern] of cases) {
      await s.step(label, async () => {
        const res = await raw(body);
        assert.equal(res.status, status);
        assert.equal(typeof res.json.faultstring, "string");
        assert.match(res.json.faultstring as string, pattern);
        await stillServes();
      });
    }
  });

  await t.step("a checksum mismatch is FAILED and records no partition UUIDs", async () => {
    const res = await agent.command("standby.prepare_image", {
      image_info: imageInfo({ os_hash_value: "0".repeat(64) }),
    });
    assert.equal(res.body.command_status, "FAILED");
    const error = res.body.command_error as Json;
    assert.equal(error.type, "ImageChecksumError");
    assert.match(error.details as string, /0{64}/);
    const uuids = await agent.command("standby.get_partition_uuids", {});
    assert.deepEqual(uuids.body.command_result, {});
    await stillServes();
  });

  await t.step("a qcow2 image declared raw is refused before anything is written", async () => {
    await writeBacking(target, 0, new Uint8Array(4096).fill(0xab));
    const res = await agent.command("standby.prepare_image", {
      image_info: imageInfo({
        urls: [server.url("/fake-raw.img")],
        os_hash_value: sha256(qcow2),
      }),
    });
    assert.equal(res.body.command_status, "FAILED");
    assert.equal((res.body.command_error as Json).type, "InvalidImage");
    assert.match((res.body.command_error as Json).details as string, /image was actually qcow2/);
    assert.deepEqual(await readBacking(target, 0, 4), new Uint8Array(4).fill(0xab));
  });

  await t.step("prepare_image streams the image onto the install device", async () => {
    const res = await agent.command("standby.prepare_image", { image_info: imageInfo() });
    assert.equal(res.body.command_status, "SUCCEEDED", JSON.stringify(res.body.command_error));
    assert.deepEqual(res.body.command_result, {
      result: `prepare_image: image (disk.img) written to device ${target.path} ` +
        "root_uuid=0x12345678",
    });
    assert.equal(sha256(await readBacking(target, 0, image.bytes.length)), digest);
    const uuids = await agent.command("standby.get_partition_uuids", {});
    assert.deepEqual(uuids.body.command_result, { "root uuid": "0x12345678" });
  });

  await t.step("erase_devices_metadata wipes the partition table of the fenced disk", async () => {
    const step = { interface: "deploy", step: "erase_devices_metadata", priority: 99 };
    const started = await agent.command(
      "clean.execute_clean_step",
      { step, node, ports: [], clean_version: { generic_hardware_manager: "1.2" } },
      false,
    );
    assert.equal(started.body.command_status, "RUNNING");
    const res = await fetch(
      `${agent.url}/v1/commands/${started.body.id}?wait=true&agent_token=${agent.token}`,
    );
    const done = await res.json();
    assert.equal(done.command_status, "SUCCEEDED", JSON.stringify(done.command_error));
    assert.deepEqual(done.command_result, { clean_result: null, clean_step: step });
    const head = await readBacking(target, 0, 512 * 34);
    assert.ok(head.every((b) => b === 0), "the first 34 sectors are zero");
    const tail = await readBacking(target, target.sizeBytes - 512 * 33, 512 * 33);
    assert.ok(tail.every((b) => b === 0), "the last 33 sectors are zero");
  });

  await t.step("power_off under --protect-host only syncs; the agent keeps running", async () => {
    const res = await agent.command("standby.power_off", {});
    assert.equal(res.body.command_status, "SUCCEEDED");
    assert.match(agent.logText(), /protect-host: would run "poweroff"/);
    const status = await fetch(`${agent.url}/v1/status`);
    assert.equal(status.status, 200);
    await status.body?.cancel();
  });

  await t.step("collect_system_logs returns a tarball without the token", async () => {
    const res = await agent.command("log.collect_system_logs", {});
    assert.equal(res.body.command_status, "SUCCEEDED", JSON.stringify(res.body.command_error));
    const b64 = (res.body.command_result as Json).system_logs as string;
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/logs.tgz`, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      const out = await new Deno.Command("tar", { args: ["-xzf", "logs.tgz"], cwd: dir }).output();
      assert.ok(out.success);
      const agentLog = await Deno.readTextFile(`${dir}/agent.log`);
      assert.match(agentLog, /image written/);
      assert.ok(!agentLog.includes(agent.token));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("the agent never touched the device outside --only-block-devices", async () => {
    assert.equal(await backingDigest(bystander), bystanderBefore);
    assert.ok(!agent.logText().includes(agent.token), "the token never appears in the log");
  });
});

Deno.test("deno task standalone's grants start the agent and answer /v1/status", async () => {
  await using agent = await startStandaloneAgent();
  const res = await fetch(`${agent.url}/v1/status`);
  const body = await res.json();
  assert.equal(res.status, 200);
  assert.equal(body.version, "1.0.0");
  assert.equal(typeof body.started_at, "number");
  assert.ok(agent.startupMs > 0 && agent.startupMs < 30_000);
});
