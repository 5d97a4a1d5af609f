import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { parseKernelCmdline } from "./kernel_cmdline.ts";

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
