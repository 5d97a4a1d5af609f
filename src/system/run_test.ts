import assert from "node:assert/strict";
import { systemRunner, ToolError } from "./run.ts";

/** True while `pid` exists (signal 0 probes without touching it). */
async function alive(pid: number): Promise<boolean> {
  const out = await new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" })
    .output();
  return out.success;
}

Deno.test("systemRunner.run() kills a hanging tool at its timeout and names it in the error", async (t) => {
  for (
    const [label, args] of [
      ["a tool that sleeps", ["-c", "echo $$ > $0; exec sleep 30"]],
      ["a tool that ignores SIGTERM", ["-c", "echo $$ > $0; trap '' TERM; while :; do :; done"]],
    ] as const
  ) {
    await t.step(label, async () => {
      const pidFile = await Deno.makeTempFile({ prefix: "run-test-" });
      try {
        const started = performance.now();
        const err = await systemRunner.run("sh", [args[0], args[1], pidFile], { timeoutMs: 300 })
          .then(() => null, (e) => e);
        const elapsed = performance.now() - started;
        assert.ok(err instanceof ToolError, String(err));
        assert.match(err.message + err.details, /timed out after 0\.3 s and was killed/);
        assert.match(err.details, /sh -c/);
        assert.ok(elapsed < 5_000, `returned after ${elapsed.toFixed(0)} ms`);
        const pid = Number((await Deno.readTextFile(pidFile)).trim());
        assert.ok(pid > 0);
        assert.equal(await alive(pid), false, "the process is gone");
      } finally {
        await Deno.remove(pidFile);
      }
    });
  }
});
