import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { file, resolve } from "./_test_utils.ts";
import type { defaultConfig } from "./defaults.ts";
import type { ConfigSources } from "./resolve.ts";

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
