import assert from "node:assert/strict";
import { vendorFromDmidecode, vendorFromLshw } from "./system_vendor.ts";
import { parseLshw } from "./lshw.ts";

const testdata = new URL("../../testdata/", import.meta.url);
const read = (name: string) => Deno.readTextFile(new URL(name, testdata));

Deno.test("vendorFromLshw() reads product, serial, vendor and the firmware node", async () => {
  assert.deepEqual(vendorFromLshw(parseLshw(await read("lshw/server-hand.json"))), {
    product_name: "PowerEdge R650 (SKU=0A7C;ModelName=PowerEdge R650)",
    serial_number: "8XYZ123",
    manufacturer: "Dell Inc.",
    firmware: { vendor: "Dell Inc.", version: "1.9.2", build_date: "03/14/2023" },
  });
});

Deno.test("vendorFromLshw() gives empty strings on the recorded VM without SMBIOS", async () => {
  assert.deepEqual(vendorFromLshw(parseLshw(await read("lshw/vm-kvm-02.19.json"))), {
    product_name: "",
    serial_number: "",
    manufacturer: "",
    firmware: { vendor: "", version: "", build_date: "" },
  });
});

Deno.test("vendorFromDmidecode() reads the System and BIOS sections", async () => {
  assert.deepEqual(vendorFromDmidecode(await read("dmidecode/server-hand.txt")), {
    product_name: "PowerEdge R650",
    serial_number: "8XYZ123",
    manufacturer: "Dell Inc.",
    firmware: { vendor: "Dell Inc.", version: "1.9.2", build_date: "03/14/2023" },
  });
  const empty = vendorFromDmidecode(await read("dmidecode/vm-no-smbios.txt"));
  assert.equal(empty.product_name + empty.firmware.version, "");
});
