/**
 * `inject_files` driven like Ironic drives it: the real agent process (standalone, production
 * permission set, --protect-host) lists the step in `deploy.get_deploy_steps` and
 * `service.get_service_steps`, runs it through `deploy.execute_deploy_step` against a loop
 * device with an ext4 partition, and answers 400 for an invalid item before anything starts.
 */
import assert from "node:assert/strict";
import { createLoopDevice } from "./harness/loop.ts";
import { startImageServer } from "./harness/image_server.ts";
import { startStandaloneAgent } from "./harness/standalone_agent.ts";
import { tool } from "./harness/process_util.ts";

type Json = Record<string, unknown>;
const UUID = "6c4b0e2e-8f55-4a56-9a3f-4c3bbf3e5a10";

Deno.test("deploy.execute_deploy_step runs inject_files in the real agent", async (t) => {
  await using disk = await createLoopDevice({ sizeMiB: 32 });
  await tool("sgdisk", ["-n", "1:0:0", disk.path]);
  await tool("partx", ["-a", disk.path]);
  const seed = await Deno.makeTempDir({ prefix: "inject-api-seed-" });
  try {
    await Deno.mkdir(`${seed}/etc`);
    await tool("mkfs.ext4", ["-q", "-F", "-d", seed, `${disk.path}p1`]);
  } finally {
    await Deno.remove(seed, { recursive: true });
  }
  await using server = startImageServer({ [`/cfg/${UUID}`]: { body: "from the server\n" } });
  await using agent = await startStandaloneAgent({ onlyBlockDevices: [disk.path] });
  const node = {
    uuid: UUID,
    properties: {
      root_device: { name: disk.path },
      inject_files: [{ path: "/etc/from-properties", content: btoa("property\n") }],
    },
  };

  await t.step("the step is offered for deploy and service with IPA's argsinfo", async () => {
    for (const kind of ["deploy", "service"]) {
      const res = await agent.command(`${kind}.get_${kind}_steps`, { node, ports: [] });
      assert.equal(res.status, 200);
      const result = res.body.command_result as Json;
      const steps = (result[`${kind}_steps`] as Record<string, Json[]>).GenericHardwareManager!;
      const step = steps.find((s) => s.step === "inject_files");
      assert.ok(step, `${kind} steps: ${JSON.stringify(steps.map((s) => s.step))}`);
      assert.equal(step.priority, 0);
      assert.equal(step.interface, "deploy");
      assert.equal(step.reboot_requested, false);
      const argsinfo = step.argsinfo as Record<string, Json>;
      assert.deepEqual(Object.keys(argsinfo).sort(), ["files", "verify_ca"]);
      assert.match(argsinfo.files!.description as string, /^Files to inject, a list of file/);
      assert.equal(argsinfo.verify_ca!.required, false);
    }
  });

  await t.step("execute_deploy_step injects the files and succeeds", async () => {
    const res = await agent.command("deploy.execute_deploy_step", {
      step: {
        step: "inject_files",
        interface: "deploy",
        priority: 0,
        args: {
          files: [
            { path: "/etc/motd", content: btoa("hello\n"), mode: 0o604, owner: 1000, group: 1001 },
            { path: "/etc/app/conf", content: `${server.origin}/cfg/{node[uuid]}`, dirmode: 0o700 },
          ],
        },
      },
      node,
      ports: [],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.command_status, "SUCCEEDED", JSON.stringify(res.body.command_error));
    const result = res.body.command_result as Json;
    assert.equal(result.deploy_result, null);
    assert.equal((result.deploy_step as Json).step, "inject_files");

    const dir = await Deno.makeTempDir({ prefix: "inject-api-check-" });
    await tool("mount", ["-o", "ro", `${disk.path}p1`, dir]);
    try {
      assert.equal(await Deno.readTextFile(`${dir}/etc/from-properties`), "property\n");
      assert.equal(await Deno.readTextFile(`${dir}/etc/motd`), "hello\n");
      const motd = await Deno.stat(`${dir}/etc/motd`);
      assert.deepEqual([motd.mode! & 0o7777, motd.uid, motd.gid], [0o604, 1000, 1001]);
      assert.equal(await Deno.readTextFile(`${dir}/etc/app/conf`), "from the server\n");
      assert.equal((await Deno.stat(`${dir}/etc/app`)).mode! & 0o777, 0o700);
    } finally {
      await tool("umount", [dir]);
      await Deno.remove(dir);
    }
    const mounts = await Deno.readTextFile("/proc/self/mountinfo");
    assert.ok(!mounts.includes(`${disk.path}p1`), "the agent left the partition mounted");
  });

  await t.step("an invalid item answers 400 before the step starts", async () => {
    const res = await agent.command("deploy.execute_deploy_step", {
      step: {
        step: "inject_files",
        interface: "deploy",
        args: { files: [{ path: "/etc/x", content: btoa("x"), owner: "root" }] },
      },
      node,
      ports: [],
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.match(res.body.faultstring as string, /files\[0\]\.owner must be an integer/);
  });
});
