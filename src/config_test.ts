import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { rejectsConfigError } from "./config/_test_utils.ts";
import { defaultConfig, loadConfig } from "./config.ts";
import { redact } from "./log.ts";
import type { Runner, RunResult } from "./system/run.ts";

// --- helpers -----------------------------------------------------------------------------------

/** A runner whose `cat` serves `files` and fails for anything else; records every call. */
function fakeRunner(files: Record<string, string>): Runner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run(cmd, args): Promise<RunResult> {
      calls.push([cmd, ...args]);
      const path = args[args.length - 1] ?? "";
      if (cmd === "cat" && path in files) {
        return Promise.resolve({ code: 0, stdout: files[path] as string, stderr: "" });
      }
      return Promise.reject(new Error(`${cmd}: ${path}: No such file or directory`));
    },
    pipe() {
      throw new Error("pipe() is not expected");
    },
  };
}

/** A temporary directory removed at the end of the scope (`await using`). */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "config_test_" });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }),
  };
}
// --- loadConfig --------------------------------------------------------------------------------

Deno.test("loadConfig() reads the kernel command line through the runner", async () => {
  await using dir = await tempDir();
  const runner = fakeRunner({
    "/proc/cmdline": "ro ipa-api-url=http://ironic:6385/ ipa-debug=1\n",
  });
  const config = await loadConfig({
    argv: [],
    runner,
    defaultFiles: { file: `${dir.path}/none.conf`, dir: `${dir.path}/none.d` },
    onWarning: () => {},
  });
  assertEquals([config.apiUrl, config.debug, config.configFile], [
    ["http://ironic:6385"],
    true,
    null,
  ]);
  assertEquals(runner.calls, [["cat", "--", "/proc/cmdline"]]);
});

Deno.test("loadConfig() reads the default file, then *.conf in the directory alphabetically", async () => {
  await using dir = await tempDir();
  const main = `${dir.path}/ipa.conf`;
  const confDir = `${dir.path}/ipa.d`;
  await Deno.mkdir(confDir);
  await Deno.mkdir(`${confDir}/sub.conf`);
  await Deno.writeTextFile(
    main,
    "[DEFAULT]\nlisten_port = 1\nlisten_host = 10.0.0.1\ncafile = /a\n",
  );
  // Created out of order, so neither creation order nor its reverse is alphabetical.
  await Deno.writeTextFile(`${confDir}/20-b.conf`, "[DEFAULT]\nlisten_port = 3\n");
  await Deno.writeTextFile(`${confDir}/30-c.conf`, "[DEFAULT]\nlisten_port = 4\n");
  await Deno.writeTextFile(`${confDir}/10-a.conf`, "[DEFAULT]\nlisten_port = 2\ncafile = /b\n");
  await Deno.writeTextFile(`${confDir}/.hidden.conf`, "[DEFAULT]\nadvertise_port = 5\n");
  await Deno.writeTextFile(`${confDir}/40-d.conf.bak`, "[DEFAULT]\nadvertise_port = 6\n");
  const config = await loadConfig({
    argv: [],
    runner: fakeRunner({ "/proc/cmdline": "ipa-listen-port=9 ipa-listen-host=::1" }),
    defaultFiles: { file: main, dir: `${confDir}/` },
  });
  assertEquals(
    [config.listenPort, config.listenHost, config.cafile, config.advertisePort, config.configFile],
    [4, "10.0.0.1", "/b", 9999, main],
  );
});

Deno.test("loadConfig() reads only --config-file when it is given, and flags win", async () => {
  await using dir = await tempDir();
  const main = `${dir.path}/ipa.conf`;
  const only = `${dir.path}/only.conf`;
  await Deno.writeTextFile(main, "[DEFAULT]\ncafile = /default\n");
  await Deno.writeTextFile(only, "[DEFAULT]\nlisten_port = 7\nadvertise_port = 8\n");
  const cmdline = `${dir.path}/cmdline`;
  const config = await loadConfig({
    argv: ["--config-file", only, "--advertise-port=80", `--cmdline-path=${cmdline}`],
    runner: fakeRunner({ [cmdline]: "ipa-listen-port=6 ipa-insecure=yes" }),
    defaultFiles: { file: main, dir: dir.path },
  });
  assertEquals(
    [config.cafile, config.listenPort, config.advertisePort, config.insecure, config.configFile],
    [null, 7, 80, true, only],
  );
  assertEquals(config.cmdlinePath, cmdline);
});

Deno.test("loadConfig() fails when --config-file does not exist", async () => {
  await using dir = await tempDir();
  await rejectsConfigError(
    loadConfig({
      argv: [`--config-file=${dir.path}/missing.conf`],
      runner: fakeRunner({ "/proc/cmdline": "" }),
    }),
    `Cannot read config file "${dir.path}/missing.conf": no such file`,
  );
});

Deno.test("loadConfig() names the file and line of an INI syntax error", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/bad.conf`, "[DEFAULT]\nlisten_port 9\n");
  await rejectsConfigError(
    loadConfig({
      argv: [`--config-file=${dir.path}/bad.conf`],
      runner: fakeRunner({ "/proc/cmdline": "" }),
    }),
    `Cannot parse config file "${dir.path}/bad.conf": line 2: expected "key = value"`,
  );
});

Deno.test("loadConfig() rejects an unknown flag before reading anything", async () => {
  const runner = fakeRunner({});
  await rejectsConfigError(
    loadConfig({ argv: ["--listen-prot=1"], runner }),
    'Unknown command-line flag "--listen-prot"',
  );
  assertEquals(runner.calls, []);
});

Deno.test("loadConfig() fails when an explicit --cmdline-path cannot be read", async () => {
  await rejectsConfigError(
    loadConfig({ argv: ["--cmdline-path", "/nonexistent/cmdline"], runner: fakeRunner({}) }),
    'Cannot read the kernel command line from "/nonexistent/cmdline"',
  );
});

Deno.test("loadConfig() only warns when /proc/cmdline cannot be read", async () => {
  await using dir = await tempDir();
  const warnings: string[] = [];
  const config = await loadConfig({
    argv: [],
    runner: fakeRunner({}),
    defaultFiles: { file: `${dir.path}/none.conf`, dir: `${dir.path}/none.d` },
    onWarning: (message) => warnings.push(message),
  });
  assertEquals(config, defaultConfig());
  assertEquals(warnings, ["Cannot read /proc/cmdline; no kernel parameters used"]);
});

Deno.test("loadConfig() hides the agent token and image password from log lines", async () => {
  await using dir = await tempDir();
  const token = "tok-4f1c9b2e-config-test";
  const password = "pw-8d3a77-config-test";
  await Deno.writeTextFile(
    `${dir.path}/a.conf`,
    `[DEFAULT]\nimage_server_password = ${password}\n`,
  );
  await loadConfig({
    argv: [`--config-file=${dir.path}/a.conf`],
    runner: fakeRunner({ "/proc/cmdline": `ipa-agent-token=${token}` }),
  });
  assertEquals(redact(`token ${token} password ${password}`), "token *** password ***");
});
