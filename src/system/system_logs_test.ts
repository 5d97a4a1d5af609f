import assert from "node:assert/strict";
import { testdata } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { type Runner, systemRunner, ToolError } from "./run.ts";
import { collectSystemLogs } from "./system_logs.ts";

/** Real tar; every other tool answers from `answers` or fails as absent. */
function fakeRunner(answers: Record<string, string>, calls: string[]): Runner {
  return {
    pipe: systemRunner.pipe,
    run(cmd, args, options) {
      const line = [cmd, ...args].join(" ");
      calls.push(line);
      if (cmd === "tar") return systemRunner.run(cmd, args, options);
      const stdout = answers[line];
      if (stdout === undefined) {
        return Promise.reject(
          new ToolError({ command: line, exitCode: 127, stderr: "" }, "absent"),
        );
      }
      return Promise.resolve({ code: 0, stdout, stderr: "" });
    },
  };
}

async function members(base64: string): Promise<Map<string, string>> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/a.tgz`, Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
    await systemRunner.run("tar", ["-xzf", `${dir}/a.tgz`, "-C", dir]);
    await Deno.remove(`${dir}/a.tgz`);
    const found = new Map<string, string>();
    const walk = async (sub: string) => {
      for await (const e of Deno.readDir(`${dir}/${sub}`)) {
        const path = sub ? `${sub}/${e.name}` : e.name;
        if (e.isDirectory) await walk(path);
        else found.set(path, await Deno.readTextFile(`${dir}/${path}`));
      }
    };
    await walk("");
    return found;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const log = new Logger({ test: "system_logs" });
const find = "find /sys/block -mindepth 1 -maxdepth 1 -printf %f\\n";

Deno.test("collectSystemLogs() adds the mdadm --detail of every md array", async () => {
  const raid5 = testdata("mdadm/detail-raid5-4.2-vm.txt");
  const calls: string[] = [];
  const runner = fakeRunner({
    [find]: "md1\nvda\nmd127\n",
    "mdadm --detail /dev/md1": raid5,
    "mdadm --detail /dev/md127": "/dev/md127:\n   State : inactive\n",
    "cat /proc/mdstat": "md1 : active raid5 vdd2[3] vdc2[2] vdb2[1] vda2[0]\n",
  }, calls);
  const archive = await members(
    await collectSystemLogs({ runner, log, agentLog: ["line"], devices: [] }),
  );
  assert.equal(archive.get("mdadm-detail/md1"), raid5);
  assert.match(archive.get("mdadm-detail/md127")!, /inactive/);
  assert.ok(!archive.has("mdadm-detail/vda"), "only md<N> entries are arrays");
  assert.ok(!calls.includes("mdadm --detail /dev/vda"));
  assert.match(archive.get("mdstat")!, /raid5/);
});

Deno.test("collectSystemLogs() has no mdadm-detail folder without md arrays", async () => {
  const runner = fakeRunner({ [find]: "vda\nloop0\n" }, []);
  const archive = await members(
    await collectSystemLogs({ runner, log, agentLog: [], devices: [] }),
  );
  assert.ok(archive.has("agent.log"));
  assert.ok(![...archive.keys()].some((k) => k.startsWith("mdadm-detail")));
});
