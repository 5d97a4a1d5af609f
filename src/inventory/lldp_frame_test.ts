/** LLDP frame parsing on recorded `tcpdump -xx` output (testdata/tcpdump, see its README). */
import assert from "node:assert/strict";
import { LldpFrameError, parseLldpFrame, parseTcpdumpHex } from "./lldp_frame.ts";

const testdata = new URL("../../testdata/tcpdump/", import.meta.url);

function read(name: string): Promise<string> {
  return Deno.readTextFile(new URL(name, testdata));
}

function text(hex: string): string {
  return new TextDecoder().decode(Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16)));
}

Deno.test("parseTcpdumpHex() returns every byte of the recorded 225-byte switch frame", async () => {
  const frame = parseTcpdumpHex(await read("lldp_switch_frame.txt"));
  assert.equal(frame.length, 225);
  // Destination: the LLDP nearest-bridge multicast address; EtherType 0x88cc.
  assert.deepEqual([...frame.subarray(0, 6)], [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e]);
  assert.deepEqual([frame[12], frame[13]], [0x88, 0xcc]);
  assert.equal(frame[224], 0x00);
});

Deno.test("parseLldpFrame() decodes the switch frame's 14 TLVs, 802.1 and 802.3 ones included", async () => {
  const { tlvs, truncated } = parseLldpFrame(parseTcpdumpHex(await read("lldp_switch_frame.txt")));
  assert.equal(truncated, false);
  assert.deepEqual(tlvs.map(([type]) => type), [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    127,
    127,
    127,
    127,
    127,
    0,
  ]);
  assert.deepEqual(tlvs[0], [1, "047c2586a1b200"]); // chassis id, subtype 4 (MAC)
  assert.deepEqual(tlvs[2], [3, "0078"]); // TTL 120 s
  assert.equal(text(tlvs[1]![1]), "\x05Ethernet1/7"); // port id, subtype 5 (interface name)
  assert.equal(text(tlvs[4]![1]), "tor-sw12.dc1.example");
  assert.equal(text(tlvs[5]![1]), "Cisco Nexus Operating System (NX-OS) Software 9.3(8)");
  assert.deepEqual(tlvs[6], [7, "00140014"]); // capabilities: bridge + router, both enabled
  assert.deepEqual(tlvs[7], [8, "05010a000002020500000000"]); // management address 10.0.0.2
  assert.deepEqual(tlvs[8], [127, "0080c2010064"]); // 802.1 port VLAN id 100
  assert.equal(tlvs[10]![1], "0080c20300c80b" + "73746f726167652d323030"); // VLAN 200 "storage-200"
  assert.deepEqual(tlvs[12], [127, "00120f042400"]); // 802.3 maximum frame size 9216
  assert.deepEqual(tlvs[13], [0, ""]);
});

Deno.test("parseLldpFrame() stops at the End TLV of a frame padded to 60 bytes", async () => {
  const frame = parseTcpdumpHex(await read("lldp_padded_minimal.txt"));
  assert.equal(frame.length, 60);
  assert.deepEqual(parseLldpFrame(frame), {
    tlvs: [[1, "04020000000001"], [2, "03020000000001"], [3, "0078"], [0, ""]],
    truncated: false,
  });
});

Deno.test("parseLldpFrame() keeps the 802.1 VLAN name TLV that enable_vlan_interfaces reads", async () => {
  const { tlvs } = parseLldpFrame(parseTcpdumpHex(await read("lldp_vlan_frame.txt")));
  assert.deepEqual(tlvs, [
    [1, "04020000000001"],
    [2, "05" + "45746865726e6574312f37"],
    [3, "0078"],
    [5, "7377697463682d612e6578616d706c65"],
    [127, "0080c2030064" + "06" + "766c616e313030"], // OUI 0080c2, subtype 3, VLAN 100
    [0, ""],
  ]);
});

Deno.test("parseLldpFrame() keeps the bytes of a TLV cut short and says it was", () => {
  const frame = new Uint8Array([
    ...[1, 0x80, 0xc2, 0, 0, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc],
    ...[0x02, 0x07, 0x04, 0xaa], // chassis id claims 7 bytes, 2 follow
  ]);
  assert.deepEqual(parseLldpFrame(frame), { tlvs: [[1, "04aa"]], truncated: true });
});

Deno.test("parseLldpFrame() refuses a frame that is not LLDP or has no Ethernet header", () => {
  const ipv4 = new Uint8Array([...new Array(12).fill(0), 0x08, 0x00, 0x45, 0x00]);
  assert.throws(() => parseLldpFrame(ipv4), {
    name: "LldpFrameError",
    message: "Cannot parse LLDP frame: EtherType is 0x0800, not 0x88cc",
  });
  assert.throws(() => parseLldpFrame(new Uint8Array(10)), LldpFrameError);
});

Deno.test("parseTcpdumpHex() refuses output with a missing line or no dump at all", async () => {
  const lines = (await read("lldp_switch_frame.txt")).split("\n");
  const gap = [...lines.slice(0, 3), ...lines.slice(4)].join("\n");
  assert.throws(() => parseTcpdumpHex(gap), {
    name: "LldpFrameError",
    message: "Cannot parse tcpdump output: hex line at offset 0x0030 follows 32 bytes",
  });
  assert.throws(() => parseTcpdumpHex(""), /no hex dump lines/);
});

Deno.test("parseTcpdumpHex() reads only the first of two frames", async () => {
  const one = await read("lldp_padded_minimal.txt");
  const two = one + (await read("lldp_switch_frame.txt"));
  assert.equal(parseTcpdumpHex(two).length, 60);
});
