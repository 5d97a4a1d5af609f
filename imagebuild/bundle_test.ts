/**
 * The grants hold in the form the ramdisk carries: the bundle run by the generated launcher (as
 * in /opt/ipa of the image, with `deno` next to it). A hardware manager loaded by the real agent
 * runs one tool the `agent` permission set lists (`cat`) and one it does not (`sh`), and
 * records what happened; the listed one must run and the other must be refused by Deno. The run
 * grant is narrowed to the tools of a root filesystem (here the host's), as in the image.
 */
import assert from "node:assert/strict";
import { buildBundle, launcherScript } from "./bundle.ts";
import { freePort } from "../tests/harness/process_util.ts";

const TOKEN = "probe-token-0123456789abcdef0123456789abcdef";
const SITE_MANAGER = new URL("../managers/examples/site_manager.ts", import.meta.url).pathname;

/** Self-contained (no imports) so the bundled agent can load it as a local module. */
const PROBE_MANAGER = `
export default async function probe(ctx) {
  const result = {};
  for (const [tool, args] of [["cat", ["/proc/version"]], ["sh", ["-c", "echo ran"]]]) {
    try {
      const out = await ctx.runner.run(tool, args, { timeoutMs: 10000 });
      result[tool] = { ran: true, stdout: out.stdout };
    } catch (err) {
      result[tool] = { ran: false, error: String(err && err.message || err) };
    }
  }
  await Deno.writeTextFile(new URL("./probe.json", import.meta.url), JSON.stringify(result));
  return {
    name: "grant_probe", className: "GrantProbe", version: "1.0",
    evaluateSupport: async () => 0, steps: [], capabilities: {},
  };
}
`;

Deno.test("launcherScript refuses a grant value that would need shell quoting", () => {
  assert.throws(() => launcherScript(["--allow-read=/a`b`"]), /needs quoting/);
  assert.match(launcherScript(["--allow-read=$here,/tmp"]), /"--allow-read=\$here,\/tmp"/);
});

Deno.test("bundled agent under the launcher runs a listed tool and is refused an unlisted one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipa-bundle-" });
  try {
    // As build-ramdisk does with the image's root: only the listed tools this root holds.
    let dropped: string[] | null = null;
    const launcher = await buildBundle(dir, undefined, "/", (tools) => dropped = tools);
    assert.ok(dropped !== null && !(dropped as string[]).includes("cat"), `dropped: ${dropped}`);
    await Deno.symlink(Deno.execPath(), `${dir}/deno`);
    await Deno.writeTextFile(`${dir}/probe_manager.js`, PROBE_MANAGER);
    // As IPA_RAMDISK_MANAGERS bakes it into /opt/ipa/managers: bare `zod` via the import map.
    await Deno.mkdir(`${dir}/managers`);
    await Deno.copyFile(SITE_MANAGER, `${dir}/managers/site_manager.ts`);
    await Deno.writeTextFile(`${dir}/cmdline`, "");
    await Deno.mkdir(`${dir}/state`);
    const port = freePort();
    const child = new Deno.Command(launcher, {
      args: [
        "--standalone",
        "--protect-host",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        String(port),
        "--agent-token",
        TOKEN,
        "--cmdline-path",
        `${dir}/cmdline`,
        "--state-dir",
        `${dir}/state`,
        "--disk-wait-attempts",
        "0",
        "--only-block-devices",
        "/dev/null-none",
        "--hardware-managers",
        `${dir}/probe_manager.js,${dir}/managers/site_manager.ts`,
      ],
      // A PATH without the launcher's own deno, so it must use the one beside it.
      env: { NO_COLOR: "1", PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let status = 0;
    let cleanSteps: Record<string, { step: string }[]> = {};
    try {
      for (let i = 0; i < 300 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        try {
          const res = await fetch(`http://127.0.0.1:${port}/v1/status`);
          await res.body?.cancel();
          status = res.status;
        } catch {
          // Not listening yet.
        }
      }
      if (status === 200) {
        const res = await fetch(
          `http://127.0.0.1:${port}/v1/commands/?wait=true&agent_token=${TOKEN}`,
          {
            method: "POST",
            body: JSON.stringify({
              name: "clean.get_clean_steps",
              params: { node: { uuid: crypto.randomUUID(), properties: {} }, ports: [] },
            }),
          },
        );
        cleanSteps = (await res.json()).command_result?.clean_steps ?? {};
      }
    } finally {
      child.kill("SIGTERM");
    }
    const out = await output;
    const log = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    assert.equal(status, 200, `agent did not answer /v1/status; log:\n${log}`);
    const probe = JSON.parse(await Deno.readTextFile(`${dir}/probe.json`));
    assert.equal(probe.cat.ran, true, `cat is listed and must run: ${JSON.stringify(probe.cat)}`);
    assert.match(probe.cat.stdout, /Linux version/);
    assert.equal(probe.sh.ran, false, "sh is not listed and must be refused");
    assert.match(probe.sh.error, /NotCapable|Requires run access/);
    assert.deepEqual(cleanSteps.SiteManager?.map((s) => s.step), ["record_asset_tag"]);
    // Every granted tool exists, so Deno has nothing to complain about at start-up.
    assert.ok(!/Failed to resolve/.test(log), `Deno could not resolve a granted tool:\n${log}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
