import assert from "node:assert/strict";
import { moduleFlags } from "./launch_flags.ts";
import { launcherScript } from "./bundle.ts";

const PIN = "a".repeat(64);

Deno.test("moduleFlags: offline with no or only local managers", () => {
  assert.deepEqual(moduleFlags([]), ["--cached-only"]);
  assert.deepEqual(moduleFlags(["/opt/ipa/managers/site.ts"]), ["--cached-only"]);
});

Deno.test("moduleFlags: pinned remote managers get their hosts and stay offline", () => {
  assert.deepEqual(
    moduleFlags([
      `http://10.0.2.2:8080/m.ts#sha256=${PIN}`,
      `https://deploy.example.net/a.ts#sha256=${PIN}`,
      `http://10.0.2.2:8080/other.ts#sha256=${PIN}`,
      "/opt/ipa/managers/site.ts",
    ]),
    ["--allow-import=10.0.2.2:8080,deploy.example.net", "--cached-only"],
  );
});

Deno.test("moduleFlags: an unpinned remote manager needs Deno's module loader online", () => {
  assert.deepEqual(
    moduleFlags([`http://10.0.2.2:8080/m.ts#sha256=${PIN}`, "https://h.example/u.ts"]),
    ["--allow-import=10.0.2.2:8080,h.example"],
  );
});

Deno.test("moduleFlags: a malformed pin grants nothing (the agent names it at start-up)", () => {
  assert.deepEqual(moduleFlags(["http://h.example/m.ts#sha256=short"]), ["--cached-only"]);
});

Deno.test("launcherScript: module flags come from launch_flags.js under the launcher grants", () => {
  const script = launcherScript(["--allow-net"], ["--allow-run=cat,deno"]);
  const flagsCall = script.indexOf('"$here/launch_flags.js" "$@"');
  assert.ok(flagsCall > 0, script);
  assert.ok(script.lastIndexOf('"--allow-run=cat,deno"', flagsCall) > 0, "launcher grants");
  // The default stays offline; the agent gets the import map for bare `zod` in managers.
  assert.match(script, /^modules=--cached-only$/m);
  // set -f stops globbing, so the config directory is searched with grep -r, not a glob.
  assert.match(script, /grep -rqs "hardware\.managers" [^\n]* \/etc\/ironic-python-agent\.d;/);
  assert.match(script, /--import-map="\$here\/import_map\.json" \$modules/);
  assert.ok(script.indexOf('"--allow-net"') > flagsCall, "agent grants on the agent's line");
  assert.throws(() => launcherScript([], ['--allow-read="x"']), /needs quoting/);
});

Deno.test({
  name: "launcher: module flags for a pinned remote manager, read from the configuration",
  // Runs the generated launcher's first half with `deno` as the bundled launch_flags.ts.
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ipa-launch-flags-" });
    try {
      await Deno.writeTextFile(
        `${dir}/cmdline`,
        `console=ttyS0 ipa-hardware-managers=http://10.0.2.2:8080/m.ts#sha256=${PIN}\n`,
      );
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-P=launcher",
          new URL("./launch_flags.ts", import.meta.url).pathname,
          "--cmdline-path",
          `${dir}/cmdline`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.deepEqual(new TextDecoder().decode(out.stdout).trim().split("\n"), [
        "--allow-import=10.0.2.2:8080",
        "--cached-only",
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
