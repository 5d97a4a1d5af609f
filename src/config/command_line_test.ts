import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { throwsConfigError } from "./_test_utils.ts";
import { parseCommandLine } from "./command_line.ts";

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
