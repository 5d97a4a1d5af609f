/**
 * Integration: the `inject_files` step (spec 08 §12) on a loop device with a GPT and two ext4
 * partitions, the second holding /etc. Runs the generic manager's step definition with the real
 * runner: base64 into /etc (partition found by search), a file by partition number with mode,
 * owner and a new directory, one by device path, a deletion, a URL with a `{node[uuid]}`
 * placeholder served from 127.0.0.1; then reads the partitions back and checks that nothing
 * stays mounted. Bad input gives the documented errors.
 */
import assert from "node:assert/strict";
import {
  CommandExecutionError,
  DeviceNotFound,
  InvalidCommandParamsError,
  ProtectedDeviceError,
} from "../api/errors.ts";
import { defaultConfig } from "../config.ts";
import type { Node, StepContext } from "../hardware/manager.ts";
import { Logger, setSink } from "../log.ts";
import { systemRunner } from "../system/run.ts";
import { createLoopDevice, type LoopDevice } from "../../tests/harness/loop.ts";
import { startImageServer } from "../../tests/harness/image_server.ts";
import { tool } from "../../tests/harness/process_util.ts";
import { injectFilesStep } from "./inject_files_step.ts";
import { installDeviceDispatcher } from "./_test_dispatcher.ts";

setSink(() => {});
const NODE_UUID = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123";

/**
 * GPT with two ext4 partitions: p1 "boot" (no /etc), p2 "root" with /etc/old.conf and a link
 * `/etc/to-host` pointing at `hostDir/target`, a path that exists on the host only.
 */
async function prepareDisk(disk: LoopDevice, hostDir: string): Promise<void> {
  await tool("sgdisk", [
    "-n",
    "1:0:+20M",
    "-c",
    "1:boot",
    "-n",
    "2:0:0",
    "-c",
    "2:root",
    disk.path,
  ]);
  await tool("partx", ["-a", disk.path]);
  await tool("udevadm", ["settle"]).catch(() => "");
  const seed = await Deno.makeTempDir({ prefix: "inject-seed-" });
  try {
    await Deno.mkdir(`${seed}/p1/loader`, { recursive: true });
    await Deno.mkdir(`${seed}/p2/etc`, { recursive: true });
    await Deno.writeTextFile(`${seed}/p2/etc/old.conf`, "stale\n");
    await Deno.writeTextFile(`${seed}/p2/etc/hostname`, "image\n");
    await Deno.symlink(`${hostDir}/target`, `${seed}/p2/etc/to-host`);
    await tool("mkfs.ext4", ["-q", "-F", "-d", `${seed}/p1`, `${disk.path}p1`]);
    await tool("mkfs.ext4", ["-q", "-F", "-d", `${seed}/p2`, `${disk.path}p2`]);
  } finally {
    await Deno.remove(seed, { recursive: true });
  }
}

/** Mounts `device` read-only for the test to look at it. */
async function inspect<T>(device: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "inject-check-" });
  await tool("mount", ["-o", "ro", device, dir]);
  try {
    return await use(dir);
  } finally {
    await tool("umount", [dir]);
    await Deno.remove(dir);
  }
}

async function mountsOf(disk: LoopDevice): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const name = disk.path.replace("/dev/", "");
  return info.split("\n").filter((line) =>
    line.includes(`/dev/${name}p`) || line.includes(`${name}p`)
  );
}

async function mountDirs(): Promise<Set<string>> {
  const dirs = new Set<string>();
  for await (const entry of Deno.readDir("/tmp")) {
    if (entry.name.startsWith("agent-mnt-")) dirs.add(entry.name);
  }
  return dirs;
}

function stepFor(disk: LoopDevice, options: { onlyBlockDevices?: string[] } = {}) {
  const config = {
    ...defaultConfig(),
    protectHost: true,
    onlyBlockDevices: options.onlyBlockDevices ?? [disk.path],
    imageDownloadConnectionRetries: 0,
    imageDownloadConnectionTimeout: 10,
  };
  const managers = installDeviceDispatcher(disk.path);
  const step = injectFilesStep({ runner: systemRunner, config, managers });
  return {
    step,
    /** Validates like the command executor, then runs the step. */
    async run(args: Record<string, unknown>, node: Node = { uuid: NODE_UUID, properties: {} }) {
      const parsed = step.args!.parse(args);
      step.validate!(parsed, node);
      const ctx: StepContext = {
        kind: "deploy",
        node,
        ports: [{ address: "52:54:00:12:34:56" }],
        args: parsed,
        log: new Logger({ test: "inject_files_loop" }),
        signal: new AbortController().signal,
        progress: () => {},
      };
      return await step.run(ctx);
    },
  };
}

const b64 = (text: string) => btoa(text);

Deno.test("inject_files writes, deletes and downloads files into the install device's partitions", async (t) => {
  await using disk = await createLoopDevice({ sizeMiB: 64 });
  const hostDir = await Deno.makeTempDir({ prefix: "inject-host-" });
  await using _hostDir = {
    [Symbol.asyncDispose]: () => Deno.remove(hostDir, { recursive: true }),
  };
  await prepareDisk(disk, hostDir);
  await using server = startImageServer({
    [`/keys/${NODE_UUID}/authorized_keys`]: { body: "ssh-ed25519 AAAA test@node\n" },
  });
  const dirsBefore = await mountDirs();
  const { run } = stepFor(disk);

  await t.step("runs the files from node properties and the files argument", async () => {
    const node: Node = {
      uuid: NODE_UUID,
      properties: { inject_files: [{ path: "/etc/motd", content: b64("hello from ironic\n") }] },
    };
    const result = await run({
      files: [
        {
          path: "/grub/custom.cfg",
          partition: 1,
          content: b64("set timeout=1\n"),
          mode: 0o640,
          dirmode: 0o750,
          owner: 1234,
          group: 5678,
        },
        { path: "/etc/old.conf", deleted: true },
        { path: "/etc/never-was.conf", deleted: true },
        { path: "/by-path.txt", partition: `${disk.path}p1`, content: b64("by path") },
        {
          path: "/etc/ssh/authorized_keys",
          content: `${server.origin}/keys/{node[uuid]}/authorized_keys`,
          mode: 0o600,
        },
      ],
    }, node);
    assert.equal(result, null);
  });

  await t.step("the files are in the right partitions with the right modes", async () => {
    await inspect(`${disk.path}p2`, async (dir) => {
      assert.equal(await Deno.readTextFile(`${dir}/etc/motd`), "hello from ironic\n");
      assert.equal(
        await Deno.readTextFile(`${dir}/etc/ssh/authorized_keys`),
        "ssh-ed25519 AAAA test@node\n",
      );
      assert.equal((await Deno.stat(`${dir}/etc/ssh/authorized_keys`)).mode! & 0o7777, 0o600);
      await assert.rejects(Deno.stat(`${dir}/etc/old.conf`), Deno.errors.NotFound);
      assert.equal(await Deno.readTextFile(`${dir}/etc/hostname`), "image\n");
      await assert.rejects(Deno.stat(`${dir}/grub`), Deno.errors.NotFound);
    });
    await inspect(`${disk.path}p1`, async (dir) => {
      const cfg = await Deno.stat(`${dir}/grub/custom.cfg`);
      assert.equal(await Deno.readTextFile(`${dir}/grub/custom.cfg`), "set timeout=1\n");
      assert.equal(cfg.mode! & 0o7777, 0o640);
      assert.equal(cfg.uid, 1234);
      assert.equal(cfg.gid, 5678);
      assert.equal((await Deno.stat(`${dir}/grub`)).mode! & 0o7777, 0o750);
      assert.equal(await Deno.readTextFile(`${dir}/by-path.txt`), "by path");
      await assert.rejects(Deno.stat(`${dir}/etc`), Deno.errors.NotFound);
    });
    assert.equal(server.requests(`/keys/${NODE_UUID}/authorized_keys`), 1);
  });

  await t.step("no files is a no-op", async () => {
    assert.equal(await run({}), null);
  });

  await t.step("bad input gives the documented errors", async (t) => {
    const cases: [string, Record<string, unknown>, new (...a: never[]) => Error, RegExp][] = [
      [
        "invalid item",
        { files: [{ path: "/etc/x", content: b64("x"), mode: "0644" }] },
        InvalidCommandParamsError,
        /files\[0\]\.mode must be an integer/,
      ],
      [
        "unknown placeholder key",
        { files: [{ path: "/etc/x", content: `${server.origin}/{node[nope]}` }] },
        InvalidCommandParamsError,
        /node has no key "nope"/,
      ],
      [
        "missing partition",
        { files: [{ path: "/etc/x", partition: 9, content: b64("x") }] },
        CommandExecutionError,
        new RegExp(
          `Cannot mount partition ${disk.path}p9 to inject file /etc/x \\(files\\[0\\]\\)`,
        ),
      ],
      [
        "directory on no partition",
        { files: [{ path: "/srv/data/x", content: b64("x") }] },
        DeviceNotFound,
        new RegExp(
          `No partition found with path /srv on device ${disk.path}, scanned: ` +
            `${disk.path}p1, ${disk.path}p2`,
        ),
      ],
      [
        "download fails",
        { files: [{ path: "/etc/x", content: `${server.origin}/missing` }] },
        CommandExecutionError,
        /Unable to read data from http:\/\/127\.0\.0\.1:\d+\/missing for file \/etc\/x: HTTP 404/,
      ],
      [
        "writing over a directory",
        { files: [{ path: "/etc/ssh", content: b64("x") }] },
        CommandExecutionError,
        new RegExp(
          `Failed to inject file /etc/ssh \\(files\\[0\\]\\) into partition ${disk.path}p2: ` +
            "the path is a directory",
        ),
      ],
      [
        "a link in the image to a host path",
        { files: [{ path: "/etc/to-host", content: b64("x") }] },
        CommandExecutionError,
        /Failed to inject file \/etc\/to-host .*symbolic link to a missing directory/,
      ],
    ];
    for (const [name, args, type, pattern] of cases) {
      await t.step(name, async () => {
        await assert.rejects(run(args), (err: unknown) => {
          assert.ok(err instanceof type, `${name}: ${err}`);
          assert.match((err as Error).message, pattern);
          return true;
        });
      });
    }
  });

  await t.step("links in the image never lead to the host's files", async () => {
    await assert.rejects(Deno.lstat(`${hostDir}/target`), Deno.errors.NotFound);
  });

  await t.step(
    "--protect-host refuses a disk outside --only-block-devices before mounting",
    async () => {
      const fenced = stepFor(disk, { onlyBlockDevices: ["/dev/loop-other"] });
      for (const partition of [undefined, 1, `${disk.path}p1`]) {
        await assert.rejects(
          fenced.run({ files: [{ path: "/etc/fenced", partition, content: b64("x") }] }),
          (err: unknown) => {
            assert.ok(err instanceof ProtectedDeviceError, String(err));
            assert.match(err.message, new RegExp(`Refusing to inject files into ${disk.path}:`));
            return true;
          },
        );
      }
      await inspect(`${disk.path}p2`, async (dir) => {
        await assert.rejects(Deno.stat(`${dir}/etc/fenced`), Deno.errors.NotFound);
      });
    },
  );

  await t.step("nothing stays mounted and no mount point is left behind", async () => {
    assert.deepEqual(await mountsOf(disk), []);
    const left = [...await mountDirs()].filter((d) => !dirsBefore.has(d));
    assert.deepEqual(left, []);
  });
});
