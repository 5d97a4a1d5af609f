import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { resolve } from "./_test_utils.ts";
import { parseCommandLine } from "./command_line.ts";
import { defaultConfig } from "./defaults.ts";
import { describeOptions } from "./describe.ts";

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
