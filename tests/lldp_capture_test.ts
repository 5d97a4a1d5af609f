/**
 * LLDP capture on real interfaces: veth pairs this test creates, their peers in a network
 * namespace it owns (no host interface is touched). A python3 AF_PACKET socket in the namespace
 * plays the switch and sends a crafted LLDP frame every 200 ms (at most 25, as a switch
 * repeats its advertisement); the agent's `captureLldp()` with the real tcpdump listens on the
 * host ends. The expected TLVs come from the test's own encoder, not from the agent's parser.
 */
import assert from "node:assert/strict";
import { captureLldp } from "../src/inventory/lldp_capture.ts";
import type { LldpTlv } from "../src/inventory/lldp_frame.ts";
import { Logger } from "../src/log.ts";
import { systemRunner } from "../src/system/run.ts";
import { sleep } from "./harness/process_util.ts";

const log = new Logger({ test: "lldp_capture_netns" });
const id = Deno.pid % 1_000_000;
const NS = `ipa-lldp-test-${id}`;
// Interface names have at most 15 characters.
const HEARD = `lldp${id}a`; // its peer sends LLDP
const SILENT = `lldp${id}b`; // up, its peer sends nothing
const DOWN = `lldp${id}c`; // administratively down

async function ip(...args: string[]): Promise<string> {
  return (await systemRunner.run("ip", args, { timeoutMs: 10_000 })).stdout;
}

async function promiscuity(name: string): Promise<number> {
  return (JSON.parse(await ip("-d", "-j", "link", "show", "dev", name)) as {
    promiscuity: number;
  }[])[0]!.promiscuity;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The frame the "switch" sends, and the TLVs the capture must report for it. */
function craftFrame(): { frame: string; tlvs: LldpTlv[] } {
  const text = (s: string) => new TextEncoder().encode(s);
  const values: [number, Uint8Array][] = [
    [1, new Uint8Array([4, 0x7c, 0x25, 0x86, 0x11, 0x22, 0x33])], // chassis id: MAC
    [2, new Uint8Array([5, ...text("Ethernet1/42")])], // port id: interface name
    [3, new Uint8Array([0, 120])], // TTL
    [5, text(`netns-switch-${id}`)], // system name
    [127, new Uint8Array([0x00, 0x80, 0xc2, 0x03, 0x00, 0x64, 7, ...text("vlan100")])],
    [0, new Uint8Array()], // End of LLDPDU
  ];
  const bytes: number[] = [
    ...[0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e], // nearest-bridge multicast
    ...[0x7c, 0x25, 0x86, 0x11, 0x22, 0x33],
    ...[0x88, 0xcc],
  ];
  for (const [type, value] of values) {
    bytes.push((type << 1) | (value.length >> 8), value.length & 0xff, ...value);
  }
  while (bytes.length < 60) bytes.push(0); // Ethernet minimum: padding after the End TLV
  return { frame: hex(new Uint8Array(bytes)), tlvs: values.map(([t, v]) => [t, hex(v)]) };
}

const SENDER = `
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for _ in range(25):
    s.send(bytes.fromhex(sys.argv[2]))
    time.sleep(0.2)
`;

Deno.test("captureLldp() reads a real LLDP frame on a veth and [] where none can arrive", async () => {
  const { frame, tlvs } = craftFrame();
  let sender: Deno.ChildProcess | undefined;
  try {
    await ip("netns", "add", NS);
    for (const name of [HEARD, SILENT, DOWN]) {
      await ip("link", "add", name, "type", "veth", "peer", "name", `${name}p`, "netns", NS);
      await ip("-n", NS, "link", "set", `${name}p`, "up");
    }
    await ip("link", "set", HEARD, "up");
    await ip("link", "set", SILENT, "up");

    const capture = captureLldp(systemRunner, [HEARD, SILENT, DOWN], { log, timeoutMs: 4_000 });
    sender = new Deno.Command("ip", {
      args: ["netns", "exec", NS, "python3", "-c", SENDER, `${HEARD}p`, frame],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // While the silent interface is still waiting, tcpdump holds it in promiscuous mode.
    let promiscuous = false;
    for (let i = 0; i < 30 && !promiscuous; i++) {
      promiscuous = (await promiscuity(SILENT)) > 0;
      if (!promiscuous) await sleep(100);
    }
    const result = await capture;

    assert.ok(promiscuous, `${SILENT} was never put in promiscuous mode during the capture`);
    assert.deepEqual(result, { [HEARD]: tlvs, [SILENT]: [], [DOWN]: [] });
    for (const name of [HEARD, SILENT, DOWN]) {
      assert.equal(await promiscuity(name), 0, `${name} left in promiscuous mode`);
    }
  } finally {
    if (sender) {
      try {
        sender.kill("SIGKILL");
      } catch {
        // The sender already finished its 25 frames.
      }
      await sender.output();
    }
    for (const name of [HEARD, SILENT, DOWN]) await ip("link", "del", name).catch(() => {});
    await ip("netns", "del", NS).catch(() => {});
  }
});
