/**
 * `captureLldp()` with a scripted tcpdump that replays recorded output (testdata/tcpdump) and,
 * like the real one, waits until the capture is stopped when no frame comes.
 */
import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { type Runner, type RunOptions, type RunResult, ToolError } from "../system/run.ts";
import { captureLldp, tcpdumpArgs } from "./lldp_capture.ts";

const testdata = new URL("../../testdata/tcpdump/", import.meta.url);
const log = new Logger({ test: "lldp_capture" });

type Script = (options: RunOptions) => Promise<RunResult>;

/** A runner whose tcpdump answers per interface (`-i <name>`), counting parallel captures. */
function tcpdumpRunner(scripts: Record<string, Script>) {
  const calls: { args: readonly string[]; options: RunOptions }[] = [];
  let running = 0;
  let maxRunning = 0;
  const runner: Runner = {
    async run(cmd, args, options = {}) {
      assert.equal(cmd, "tcpdump");
      calls.push({ args, options });
      running++;
      maxRunning = Math.max(maxRunning, running);
      try {
        return await scripts[args[1]!]!(options);
      } finally {
        running--;
      }
    },
    pipe() {
      throw new Error("pipe() is not scripted in this fake");
    },
  };
  return { runner, calls, maxRunning: () => maxRunning };
}

/** tcpdump ended by the caller's signal: SIGTERM makes it exit 0 with no frame printed. */
function silent(options: RunOptions): Promise<RunResult> {
  return new Promise((resolve) => {
    options.signal!.addEventListener(
      "abort",
      () => resolve({ code: 0, stdout: "", stderr: "0 packets captured\n" }),
      { once: true },
    );
  });
}

function killed(options: RunOptions): Promise<RunResult> {
  return new Promise((_resolve, reject) => {
    options.signal!.addEventListener("abort", () =>
      reject(
        new ToolError({ command: "tcpdump", exitCode: 137, stderr: "" }, "was killed"),
      ), { once: true });
  });
}

async function failing(stderrFile: string): Promise<RunResult> {
  const stderr = await Deno.readTextFile(new URL(stderrFile, testdata));
  throw new ToolError({ command: "tcpdump", exitCode: 1, stderr }, `exited with code 1: ${stderr}`);
}

Deno.test("captureLldp() captures all interfaces at once, [] for silent or down ones", async () => {
  const frame = await Deno.readTextFile(new URL("lldp_padded_minimal.txt", testdata));
  const fake = tcpdumpRunner({
    eth0: () => Promise.resolve({ code: 0, stdout: frame, stderr: "1 packet captured\n" }),
    eth1: silent,
    eth2: () => failing("lldp_interface_down.stderr"),
    eth3: killed,
    eth4: () => failing("lldp_no_such_device.stderr"),
  });
  const result = await captureLldp(fake.runner, ["eth0", "lo", "eth1", "eth2", "eth3", "eth4"], {
    log,
    timeoutMs: 50,
  });
  assert.deepEqual(result, {
    eth0: [[1, "04020000000001"], [2, "03020000000001"], [3, "0078"], [0, ""]],
    eth1: [],
    eth2: [],
    eth3: [],
  }); // eth4 failed: left out (and logged), never reported as "no neighbour"
  assert.deepEqual(fake.calls.map((c) => c.args[1]), ["eth0", "eth1", "eth2", "eth3", "eth4"]);
  assert.equal(fake.maxRunning(), 5, "every interface waits at the same time");
  for (const call of fake.calls) {
    assert.equal(call.options.timeoutMs, 50 + 10_000, "the runner's own kill is a backstop");
    assert.ok(call.options.signal, "the wait is bounded by lldp_timeout");
  }
});

Deno.test("captureLldp() leaves every interface out when tcpdump is not installed", async () => {
  const missing = () =>
    Promise.reject(
      new ToolError({ command: "tcpdump", exitCode: null, stderr: "" }, "could not start"),
    );
  const fake = tcpdumpRunner({ eth0: missing, eth1: missing });
  assert.deepEqual(await captureLldp(fake.runner, ["eth0", "eth1"], { log, timeoutMs: 50 }), {});
});

Deno.test("captureLldp() leaves out an interface whose frame cannot be parsed", async () => {
  const good = await Deno.readTextFile(new URL("lldp_vlan_frame.txt", testdata));
  // The same dump with the EtherType changed to IPv4: not an LLDP frame.
  const wrong = good.replace("0001 88cc 0207", "0001 0800 0207");
  const fake = tcpdumpRunner({
    eth0: () => Promise.resolve({ code: 0, stdout: wrong, stderr: "" }),
    eth1: () => Promise.resolve({ code: 0, stdout: good, stderr: "" }),
  });
  const result = await captureLldp(fake.runner, ["eth0", "eth1"], { log, timeoutMs: 50 });
  assert.deepEqual(Object.keys(result), ["eth1"]);
  assert.equal(result.eth1!.length, 6);
});

Deno.test("tcpdumpArgs() asks for one incoming LLDP frame with its Ethernet header", () => {
  assert.deepEqual(tcpdumpArgs("eno1"), [
    ...["-i", "eno1", "-c", "1", "-n", "-xx", "-Q", "in", "--immediate-mode"],
    ...["ether", "proto", "0x88cc"],
  ]);
});
