import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { assertValidNodeHints } from "./command_validation.ts";

const uuid = "6a3c5f2e-2b7e-4c43-9d6e-8d5b0b3c1f00";

Deno.test("assertValidNodeHints() accepts valid, empty and absent hints", () => {
  assertValidNodeHints(null, "prepare the image");
  assertValidNodeHints({ uuid }, "prepare the image");
  assertValidNodeHints({ uuid, properties: { root_device: {} } }, "prepare the image");
  assertValidNodeHints(
    {
      uuid,
      properties: {
        root_device: { size: ">= 10", rotational: "no", model: "<in> intel" },
        skip_block_devices: [{ name: "/dev/sdb" }, { volume_name: "data" }],
      },
    },
    "prepare the image",
  );
});

Deno.test("assertValidNodeHints() answers 400 naming the node, field and hint", async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { properties: { root_device: { colour: "red" } } },
      /^Cannot write the image: node 6a3c.* properties\.root_device is invalid\. Invalid root device hints "colour": unknown key/,
    ],
    [
      { properties: { root_device: { size: "big" } } },
      /properties\.root_device is invalid\. Invalid root device hint "size": "big" is not a positive integer$/,
    ],
    [
      { properties: { root_device: { model: "<in>" } } },
      /Invalid root device hint "model": "<in>" cannot be parsed/,
    ],
    [
      // instance_info wins over properties (spec 07 §1), so its hints are the ones checked.
      { instance_info: { root_device: { rotational: "maybe" } }, properties: {} },
      /instance_info\.root_device is invalid\. Invalid root device hint "rotational"/,
    ],
    [
      { properties: { skip_block_devices: [{ size: "x" }] } },
      /properties\.skip_block_devices is invalid\. Invalid root device hint "size"/,
    ],
  ];
  for (const [fields, message] of cases) {
    await t.step(JSON.stringify(fields), () => {
      assert.throws(
        () => assertValidNodeHints({ uuid, ...fields }, "write the image"),
        (err: unknown) => {
          assert.ok(err instanceof InvalidCommandParamsError);
          assert.equal(err.code, 400);
          assert.match(err.details, message);
          return true;
        },
      );
    });
  }
});

Deno.test("assertValidNodeHints() ignores invalid properties hints hidden by instance_info", () => {
  assertValidNodeHints(
    {
      uuid,
      instance_info: { root_device: { name: "/dev/sda" } },
      properties: { root_device: { size: "big" } },
    },
    "write the image",
  );
});
