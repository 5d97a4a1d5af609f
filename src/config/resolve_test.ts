import { deepStrictEqual as assertEquals, ok, throws } from "node:assert/strict";
import { ConfigError } from "../api/errors.ts";
import { file, resolve, throwsConfigError } from "./_test_utils.ts";
import { defaultConfig } from "./defaults.ts";
import type { ConfigSources } from "./resolve.ts";

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
