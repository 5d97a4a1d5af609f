import { deepStrictEqual as assertEquals, ok, rejects, throws } from "node:assert/strict";
import { ConfigError } from "./api/errors.ts";
import {
  type ConfigSources,
  defaultConfig,
  describeOptions,
  loadConfig,
  parseCommandLine,
  parseKernelCmdline,
  resolveConfig,
} from "./config.ts";
import { redact } from "./log.ts";
import type { Runner, RunResult } from "./system/run.ts";

// --- helpers -----------------------------------------------------------------------------------

/** Resolves without logging; returns the config and the warnings it produced. */
function resolve(sources: ConfigSources) {
  const warnings: string[] = [];
  const config = resolveConfig(sources, { onWarning: (message) => warnings.push(message) });
  return { config, warnings };
}

/** A file source with a [DEFAULT] section only. */
function file(path: string, values: Record<string, string>) {
  return { path, sections: { DEFAULT: values } };
}

/** Asserts that `fn` throws a ConfigError whose details are exactly `details`. */
function throwsConfigError(fn: () => unknown, details: string): void {
  throws(fn, (err) => {
    ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assertEquals(err.details, details);
    return true;
  });
}

async function rejectsConfigError(promise: Promise<unknown>, details: string): Promise<void> {
  await rejects(promise, (err) => {
    ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assertEquals(err.details, details);
    return true;
  });
}

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

// --- resolveConfig: precedence -----------------------------------------------------------------

Deno.test("resolveConfig() returns the built-in defaults when no source sets anything", () => {
  const { config, warnings } = resolve({});
  assertEquals(config, defaultConfig());
  assertEquals(warnings, []);
});

Deno.test("resolveConfig() applies defaults < kernel < files < flags", async (t) => {
  const kernel = { "ipa-listen-port": "1001" };
  const first = file("/etc/a.conf", { listen_port: "1002" });
  const second = file("/etc/b.conf", { listen_port: "1003" });
  const cli = { "listen-port": "1004" };
  const cases: [string, ConfigSources, number][] = [
    ["default", {}, 9999],
    ["kernel over default", { kernel }, 1001],
    ["config file over kernel", { kernel, files: [first] }, 1002],
    ["later config file over earlier", { kernel, files: [first, second] }, 1003],
    ["flag over config file", { kernel, files: [first, second], cli }, 1004],
    ["flag over kernel", { kernel, cli }, 1004],
  ];
  for (const [name, sources, port] of cases) {
    await t.step(name, () => assertEquals(resolve(sources).config.listenPort, port));
  }
});

Deno.test("resolveConfig() prefers a CLI flag over a config file", () => {
  const { config } = resolve({
    files: [file("/etc/a.conf", { api_url: "http://file" })],
    cli: { "api-url": "http://flag" },
  });
  assertEquals(config.apiUrl, ["http://flag"]);
});

Deno.test("resolveConfig() keeps options from different levels side by side", () => {
  const { config } = resolve({
    kernel: { "ipa-api-url": "http://ironic:6385", "ipa-insecure": "1" },
    files: [file("/etc/a.conf", { cafile: "/etc/ca.pem" })],
    cli: { standalone: true },
  });
  assertEquals(
    [config.apiUrl, config.insecure, config.cafile, config.standalone],
    [["http://ironic:6385"], true, "/etc/ca.pem", true],
  );
});

Deno.test("resolveConfig() lets ipa-debug win over config files and flags", async (t) => {
  const files = [file("/etc/a.conf", { debug: "true" })];
  const cases: [string, ConfigSources, boolean][] = [
    ["kernel off beats file and flag on", {
      kernel: { "ipa-debug": "0" },
      files,
      cli: { debug: true },
    }, false],
    ["kernel on beats flag off", { kernel: { "ipa-debug": "1" }, cli: { debug: false } }, true],
    ["without ipa-debug the flag wins", { files, cli: { debug: "false" } }, false],
    ["without ipa-debug the file wins", { files }, true],
  ];
  for (const [name, sources, debug] of cases) {
    await t.step(name, () => assertEquals(resolve(sources).config.debug, debug));
  }
});

Deno.test("resolveConfig() applies ipa-ip-lookup-timeout to ip_lookup_sleep", () => {
  assertEquals(resolve({ kernel: { "ipa-ip-lookup-timeout": "4" } }).config.ipLookupSleep, 4);
});

// --- resolveConfig: value types ----------------------------------------------------------------

Deno.test("resolveConfig() parses comma-separated lists", async (t) => {
  const cases: [string, ConfigSources, keyof ReturnType<typeof defaultConfig>, string[]][] = [
    [
      "api_url drops empty items and trailing slashes",
      { kernel: { "ipa-api-url": ",http://a:6385/,, https://[fd00::2]:6385/baremetal//," } },
      "apiUrl",
      ["http://a:6385", "https://[fd00::2]:6385/baremetal"],
    ],
    ["api_url accepts mdns", { kernel: { "ipa-api-url": "mdns" } }, "apiUrl", ["mdns"]],
    ["an empty api_url is no URL", { cli: { "api-url": "" } }, "apiUrl", []],
    [
      "permitted_image_formats",
      { files: [file("/f", { permitted_image_formats: "raw, QCOW2 ,iso" })] },
      "permittedImageFormats",
      ["raw", "qcow2", "iso"],
    ],
    [
      "only_block_devices",
      { kernel: { "ipa-only-block-devices": "/dev/sda,/dev/disk/by-id/x" } },
      "onlyBlockDevices",
      ["/dev/sda", "/dev/disk/by-id/x"],
    ],
    [
      "hardware_managers",
      { cli: { "hardware-managers": "https://x/m.ts, ./managers/a.ts" } },
      "hardwareManagers",
      ["https://x/m.ts", "./managers/a.ts"],
    ],
  ];
  for (const [name, sources, key, expected] of cases) {
    await t.step(name, () => assertEquals(resolve(sources).config[key], expected));
  }
});

Deno.test("resolveConfig() accepts every boolean spelling in any case", async (t) => {
  const cases: [string, boolean][] = [
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["yes", true],
    ["On", true],
    [" on ", true],
    ["false", false],
    ["False", false],
    ["0", false],
    ["no", false],
    ["OFF", false],
  ];
  for (const [value, expected] of cases) {
    await t.step(JSON.stringify(value), () => {
      const { config } = resolve({ kernel: { "ipa-guard-special-filesystems": value } });
      assertEquals(config.guardSpecialFilesystems, expected);
      assertEquals(resolve({ cli: { insecure: value } }).config.insecure, expected);
    });
  }
});

Deno.test("resolveConfig() reads numbers, enums and optional values", () => {
  const { config } = resolve({
    kernel: {
      "ipa-lldp-timeout": "2.5",
      "ipa-inject-files-priority": "99",
      "ipa-tls-certificate-curve": "P521",
      "ipa-ignore-bootloader-failure": "yes",
      "ipa-ntp-server": "ntp.example.org",
      "ipa-ironic-api-version": "1.68",
    },
    files: [file("/f", { cafile: "", image_server_auth_strategy: "http_basic" })],
  });
  assertEquals(
    [
      config.lldpTimeout,
      config.injectFilesPriority,
      config.tlsCertificateCurve,
      config.ignoreBootloaderFailure,
      config.ntpServer,
      config.ironicApiVersion,
      config.cafile,
      config.imageServerAuthStrategy,
    ],
    [2.5, 99, "p521", true, "ntp.example.org", "1.68", null, "http_basic"],
  );
});

Deno.test("resolveConfig() treats an empty value of an optional option as none", () => {
  const { config } = resolve({
    files: [file("/a", { agent_token: "tok", ignore_bootloader_failure: "true" })],
    cli: { "agent-token": "", "ignore-bootloader-failure": " " },
  });
  assertEquals([config.agentToken, config.ignoreBootloaderFailure], [null, null]);
});

// --- resolveConfig: errors ---------------------------------------------------------------------

Deno.test("resolveConfig() names option, source and value of a bad setting", async (t) => {
  const cases: [string, ConfigSources, string][] = [
    [
      "integer from a kernel parameter",
      { kernel: { "ipa-listen-port": "abc" } },
      'Invalid value "abc" for option listen_port (kernel parameter ipa-listen-port): ' +
      "expected an integer from 1 to 65535",
    ],
    [
      "port out of range from a config file",
      { files: [file("/etc/ipa.conf", { "advertise-port": "65536" })] },
      'Invalid value "65536" for option advertise_port (config file /etc/ipa.conf [DEFAULT] ' +
      "advertise-port): expected an integer from 1 to 65535",
    ],
    [
      "negative timeout from a flag",
      { cli: { "lookup-timeout": "-1" } },
      'Invalid value "-1" for option lookup_timeout (command-line flag --lookup-timeout): ' +
      "expected a number of seconds, 0 or more",
    ],
    [
      "fractional count",
      { kernel: { "ipa-disk-wait-attempts": "1.5" } },
      'Invalid value "1.5" for option disk_wait_attempts (kernel parameter ' +
      "ipa-disk-wait-attempts): expected an integer of at least 0",
    ],
    [
      "boolean",
      { kernel: { "ipa-insecure": "maybe" } },
      'Invalid value "maybe" for option insecure (kernel parameter ipa-insecure): ' +
      "expected a boolean (true/false, 1/0, yes/no, on/off)",
    ],
    [
      "enum",
      { kernel: { "ipa-tls-min-version": "1.1" } },
      'Invalid value "1.1" for option tls_min_version (kernel parameter ipa-tls-min-version): ' +
      "expected one of 1.2, 1.3",
    ],
    [
      "api_url scheme",
      { kernel: { "ipa-api-url": "http://ok,ftp://x" } },
      'Invalid value "http://ok,ftp://x" for option api_url (kernel parameter ipa-api-url): ' +
      'expected comma-separated http(s) URLs, or "mdns"',
    ],
    [
      "inspection callback URL",
      { kernel: { "ipa-inspection-callback-url": "inspector:5050" } },
      'Invalid value "inspector:5050" for option inspection_callback_url (kernel parameter ' +
      'ipa-inspection-callback-url): expected comma-separated http(s) URLs, or "mdns", ' +
      "or empty for none",
    ],
    [
      "device path",
      { cli: { "only-block-devices": "/dev/sda,sdb" } },
      'Invalid value "/dev/sda,sdb" for option only_block_devices (command-line flag ' +
      "--only-block-devices): expected comma-separated device paths starting with /dev/",
    ],
    [
      "ntp server",
      { files: [file("/f", { ntp_server: "a;b" })] },
      'Invalid value "a;b" for option ntp_server (config file /f [DEFAULT] ntp_server): ' +
      "expected a host name or IP address, or empty for none",
    ],
    [
      "relative state dir",
      { cli: { "state-dir": "run/ipa" } },
      'Invalid value "run/ipa" for option state_dir (command-line flag --state-dir): ' +
      "expected an absolute path",
    ],
    [
      "inject files priority",
      { kernel: { "ipa-inject-files-priority": "100" } },
      'Invalid value "100" for option inject_files_priority (kernel parameter ' +
      "ipa-inject-files-priority): expected an integer from 0 to 99",
    ],
  ];
  for (const [name, sources, details] of cases) {
    await t.step(name, () => throwsConfigError(() => resolve(sources), details));
  }
});

Deno.test("resolveConfig() reports the source that won, not an overridden one", () => {
  throwsConfigError(
    () => resolve({ kernel: { "ipa-listen-port": "1" }, cli: { "listen-port": "x" } }),
    'Invalid value "x" for option listen_port (command-line flag --listen-port): ' +
      "expected an integer from 1 to 65535",
  );
});

Deno.test("resolveConfig() reports every bad option in one error", () => {
  throwsConfigError(
    () => resolve({ kernel: { "ipa-listen-port": "0", "ipa-standalone": "2" } }),
    'Invalid value "0" for option listen_port (kernel parameter ipa-listen-port): ' +
      "expected an integer from 1 to 65535; " +
      'Invalid value "2" for option standalone (kernel parameter ipa-standalone): ' +
      "expected a boolean (true/false, 1/0, yes/no, on/off)",
  );
});

Deno.test("resolveConfig() never shows the agent token in an error", () => {
  const token = "s3cret token";
  throws(
    () => resolve({ cli: { "agent-token": token, "listen-port": "x" } }),
    (err) => {
      ok(err instanceof ConfigError);
      ok(!err.message.includes("s3cret"), err.message);
      ok(
        err.details.startsWith(
          "Invalid value <redacted> for option agent_token (command-line flag --agent-token)",
        ),
        err.details,
      );
      return true;
    },
  );
});

Deno.test("resolveConfig() rejects an unknown flag name", () => {
  throwsConfigError(
    () => resolve({ cli: { "listen-prot": "1" } }),
    'Unknown command-line flag "--listen-prot"',
  );
});

// --- resolveConfig: ignored inputs -------------------------------------------------------------

Deno.test("resolveConfig() warns about unknown ipa-* parameters and ignores other ones", () => {
  const { config, warnings } = resolve({
    kernel: {
      "ipa-frobnicate": "1",
      BOOTIF: "01-aa-bb-cc-dd-ee-ff",
      boot_method: "vmedia",
      "ipa-inspection-benchmarks": "cpu",
      "ipa-use-mdns": "1",
      console: "ttyS0",
    },
  });
  assertEquals(config, defaultConfig());
  assertEquals(warnings, ["Unknown kernel parameter ipa-frobnicate; ignored"]);
});

Deno.test("resolveConfig() accepts IPA options this agent ignores, with a warning", () => {
  const { config, warnings } = resolve({
    kernel: { "ipa-agent-token-required": "1" },
    files: [file("/f", { disable_bootc_deploy: "true" })],
    cli: { "introspection-daemon": true },
  });
  assertEquals(config, defaultConfig());
  assertEquals(warnings, [
    "Kernel parameter ipa-agent-token-required has no effect in this agent; ignored",
    "Option in config file /f [DEFAULT] disable_bootc_deploy has no effect in this agent; ignored",
    "Command-line flag --introspection-daemon has no effect in this agent; ignored",
  ]);
});

Deno.test("resolveConfig() reads config-file keys spelled with '_' or '-'", () => {
  const { config } = resolve({
    files: [
      file("/f", { "listen-port": "1", guard_special_filesystems: "false", "api-url": "mdns" }),
    ],
  });
  assertEquals([config.listenPort, config.guardSpecialFilesystems, config.apiUrl], [
    1,
    false,
    ["mdns"],
  ]);
});

Deno.test("resolveConfig() reads the deprecated [ssl] names and warns about other sections", () => {
  const { config, warnings } = resolve({
    files: [{
      path: "/f",
      sections: { ssl: { cert_file: "/c.pem", key_file: "/k.pem" }, metrics: { backend: "x" } },
    }],
  });
  assertEquals([config.tlsCertFile, config.tlsKeyFile], ["/c.pem", "/k.pem"]);
  assertEquals(warnings, ["Unknown option in config file /f [metrics] backend; ignored"]);
});

Deno.test("resolveConfig() ignores command-line-only options in config files", () => {
  const { config, warnings } = resolve({
    files: [file("/f", { cmdline_path: "/tmp/x", config_file: "/tmp/y", bogus: "1" })],
  });
  assertEquals([config.cmdlinePath, config.configFile], ["/proc/cmdline", null]);
  assertEquals(warnings, [
    "Option in config file /f [DEFAULT] cmdline_path can only be set on the command line; ignored",
    "Option in config file /f [DEFAULT] config_file can only be set on the command line; ignored",
    "Unknown option in config file /f [DEFAULT] bogus; ignored",
  ]);
});

// --- parseKernelCmdline ------------------------------------------------------------------------

Deno.test("parseKernelCmdline() splits tokens at the first '='", () => {
  assertEquals(
    parseKernelCmdline(
      "BOOT_IMAGE=/vmlinuz ro quiet ipa-api-url=http://a:6385/?x=y =orphan\n" +
        "ipa-debug=0\tipa-debug=1  ipa-agent-token= nomodeset\n",
    ),
    {
      BOOT_IMAGE: "/vmlinuz",
      "ipa-api-url": "http://a:6385/?x=y",
      "ipa-debug": "1",
      "ipa-agent-token": "",
    },
  );
});

// --- parseCommandLine --------------------------------------------------------------------------

Deno.test("parseCommandLine() reads values and boolean flags", async (t) => {
  const cases: [string[], Record<string, string | boolean>][] = [
    [["--api-url", "http://a"], { "api-url": "http://a" }],
    [["--api-url=http://a,http://b"], { "api-url": "http://a,http://b" }],
    [["--api_url", "http://a"], { "api-url": "http://a" }],
    [["--listen-port=1", "--listen-port=2"], { "listen-port": "2" }],
    [["--insecure"], { insecure: true }],
    [["--insecure", "--debug"], { insecure: true, debug: true }],
    [["--insecure=false"], { insecure: "false" }],
    [["--no-insecure"], { insecure: false }],
    [["--nodebug"], { debug: false }],
    [["--noguard-special-filesystems"], { "guard-special-filesystems": false }],
    [["--guard_special_filesystems=0"], { "guard-special-filesystems": "0" }],
    [["--agent-token="], { "agent-token": "" }],
    [["--protect-host", "--state-dir", "/tmp/s"], { "protect-host": true, "state-dir": "/tmp/s" }],
  ];
  for (const [argv, expected] of cases) {
    await t.step(argv.join(" "), () => assertEquals(parseCommandLine(argv), expected));
  }
});

Deno.test("parseCommandLine() rejects unknown flags, missing values and arguments", async (t) => {
  const cases: [string[], string][] = [
    [["--frobnicate"], 'Unknown command-line flag "--frobnicate"'],
    [["--api-urls=x"], 'Unknown command-line flag "--api-urls"'],
    [["--no-listen-port"], 'Unknown command-line flag "--no-listen-port"'],
    [["--no-insecure=1"], 'Unknown command-line flag "--no-insecure"'],
    [["--listen-port"], 'Command-line flag "--listen-port" needs a value'],
    [["--agent-token", "--debug"], 'Command-line flag "--agent-token" needs a value'],
    [["--insecure", "false"], 'Unexpected command-line argument "false": only flags are accepted'],
    [["-d"], 'Unexpected command-line argument "-d": only flags are accepted'],
    [["--"], 'Unexpected command-line argument "--": only flags are accepted'],
  ];
  for (const [argv, details] of cases) {
    await t.step(argv.join(" "), () => throwsConfigError(() => parseCommandLine(argv), details));
  }
});

// --- describeOptions ---------------------------------------------------------------------------

Deno.test("describeOptions() lists every option with its flag, kernel name and default", () => {
  const rows = describeOptions();
  const byOption = new Map(rows.map((row) => [row.option, row]));
  assertEquals(byOption.get("api_url"), {
    flag: "--api-url",
    kernel: "ipa-api-url",
    option: "api_url",
    default: "",
    description: "Ironic API URL(s), comma-separated, or `mdns` to discover it",
  });
  assertEquals(byOption.get("ip_lookup_sleep")?.kernel, "ipa-ip-lookup-timeout");
  assertEquals(byOption.get("guard-special-filesystems")?.flag, "--guard-special-filesystems");
  assertEquals(byOption.get("listen_port")?.default, "9999");
  assertEquals(byOption.get("permitted_image_formats")?.default, "raw,gpt,qcow2");
  assertEquals(byOption.get("config_file")?.kernel, null);
  assertEquals(byOption.get("introspection_daemon_post_interval")?.default, "300");
  // One row per Config field plus the four ignored IPA options; names are unique.
  assertEquals(rows.length, Object.keys(defaultConfig()).length + 4);
  assertEquals(byOption.size, rows.length);
});

Deno.test("describeOptions() flags and kernel names are what the parsers accept", async (t) => {
  for (const row of describeOptions()) {
    await t.step(row.option, () => {
      assertEquals(row.flag, `--${row.option.replaceAll("_", "-")}`);
      const cli = parseCommandLine([`${row.flag}=`]);
      assertEquals(Object.keys(cli), [row.flag.slice(2)]);
      if (row.kernel !== null) {
        ok(row.kernel.startsWith("ipa-"), row.kernel);
        const { warnings } = resolve({ kernel: { [row.kernel]: row.default } });
        ok(!warnings.some((w) => w.startsWith("Unknown")), warnings.join());
      }
    });
  }
});

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
