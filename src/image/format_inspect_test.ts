import assert from "node:assert/strict";
import { InvalidImage } from "../api/errors.ts";
import { checkFormatPolicy, detectFormats, INSPECT_BYTES, inspectHead } from "./format_inspect.ts";

function at(
  offset: number,
  bytes: number[] | string,
  head: Uint8Array = new Uint8Array(INSPECT_BYTES),
): Uint8Array {
  head.set(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes, offset);
  return head;
}

/** A protective MBR as sgdisk writes it. */
function protectiveMbr(): Uint8Array {
  const head = at(510, [0x55, 0xaa]);
  at(446, [0x00, 0x00, 0x02, 0x00, 0xee, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0xff, 0xff, 0, 0], head);
  return head;
}

function invalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err) => err instanceof InvalidImage && message.test(err.details));
}

Deno.test("detectFormats() recognises every signature", async (t) => {
  const cases: [string, Uint8Array][] = [
    ["qcow2", at(0, [0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3])],
    ["qed", at(0, [0x51, 0x45, 0x44, 0])],
    ["vmdk", at(0, "KDMV")],
    ["vhd", at(0, "conectix")],
    ["vhdx", at(0, "vhdxfile")],
    ["vdi", at(0x40, [0x7f, 0x10, 0xda, 0xbe])],
    ["luks", at(0, [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe])],
    ["iso", at(0x8001, "CD001")],
    ["gzip", at(0, [0x1f, 0x8b, 8])],
    ["xz", at(0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0])],
    ["zstd", at(0, [0x28, 0xb5, 0x2f, 0xfd])],
    ["gpt", protectiveMbr()],
  ];
  for (const [format, head] of cases) {
    await t.step(format, () => assert.deepEqual(detectFormats(head), [format]));
  }
  // A FAT boot sector carries 55 AA too, but is not a partition table.
  const fat = at(510, [0x55, 0xaa]);
  fat[0x10] = 2;
  fat[0x15] = 0xf8;
  assert.deepEqual(detectFormats(fat), []);
  assert.equal(inspectHead(new Uint8Array(100), { deep: true }).format, "raw");
});

Deno.test("inspectHead() applies the MBR safety checks and prefers iso for hybrid ISOs", () => {
  assert.equal(inspectHead(protectiveMbr(), { deep: true }).format, "gpt");
  const badFlag = protectiveMbr();
  badFlag[446] = 0x12;
  invalid(() => inspectHead(badFlag, { deep: true }), /invalid boot flag 0x12/);
  assert.equal(inspectHead(badFlag, { deep: false }).format, "gpt");
  const empty = at(510, [0x55, 0xaa]);
  invalid(() => inspectHead(empty, { deep: true }), /no partition entries/);
  const hybrid = at(0x8001, "CD001", protectiveMbr());
  assert.equal(inspectHead(hybrid, { deep: true }).format, "iso");
  const twoMagics = at(0, [0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3], at(0x8001, "CD001"));
  invalid(() => inspectHead(twoMagics, { deep: true }), /multiple potential formats: qcow2, iso/);
});

Deno.test("inspectHead() checks the qcow2 version and incompatible features", () => {
  const qcow2 = (version: number, features: number) => {
    const head = at(0, [0x51, 0x46, 0x49, 0xfb, 0, 0, 0, version]);
    at(20, [0, 0, 0, 16], head);
    at(79, [features], head);
    at(100, [0, 0, 0, 104], head);
    return head;
  };
  assert.equal(inspectHead(qcow2(3, 0x1), { deep: true }).format, "qcow2");
  invalid(() => inspectHead(qcow2(4, 0), { deep: true }), /qcow2 version 4 is not 2 or 3/);
  invalid(() => inspectHead(qcow2(3, 0x10), { deep: true }), /unknown incompatible features 0x10/);
  invalid(() => inspectHead(qcow2(3, 0x4), { deep: false }), /external data file/);
});

Deno.test("checkFormatPolicy() enforces permitted and declared formats", () => {
  const permitted = ["raw", "qcow2", "iso"];
  checkFormatPolicy("gpt", { declared: null, permitted });
  checkFormatPolicy("gpt", { declared: "raw", permitted });
  checkFormatPolicy("qcow2", { declared: "unknown", permitted });
  invalid(
    () => checkFormatPolicy("gpt", { declared: null, permitted: ["qcow2"] }),
    /Detected image format was gpt, but only qcow2 are allowed/,
  );
  invalid(
    () => checkFormatPolicy("qcow2", { declared: "raw", permitted }),
    /Expected format was raw, but image was actually qcow2/,
  );
  invalid(
    () => checkFormatPolicy("raw", { declared: null, permitted: ["qcow2"], compression: "xz" }),
    /Detected image format was xz-compressed raw/,
  );
});
