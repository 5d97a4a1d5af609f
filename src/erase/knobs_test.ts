import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { eraseKnobs } from "./knobs.ts";

Deno.test("eraseKnobs() uses the agent defaults of spec 09 §1 when keys are absent", () => {
  assert.deepEqual(eraseKnobs({ uuid: "n" }), {
    iterations: 1,
    zeroize: true,
    continueIfSecureEraseFailed: false,
    enableNvmeSecureErase: true,
    enableAtaSecureErase: true,
    concurrency: 1,
    skipReadOnly: false,
  });
});

Deno.test("eraseKnobs() honours the deprecated ATA twin only when the new key is absent", () => {
  const legacy = { uuid: "n", driver_internal_info: { agent_continue_if_ata_erase_failed: true } };
  assert.equal(eraseKnobs(legacy).continueIfSecureEraseFailed, true);
  const both = {
    uuid: "n",
    driver_internal_info: {
      agent_continue_if_ata_erase_failed: true,
      agent_continue_if_secure_erase_failed: false,
    },
  };
  assert.equal(eraseKnobs(both).continueIfSecureEraseFailed, false);
});

Deno.test("eraseKnobs() rejects a malformed key, naming it and its value", () => {
  assert.throws(
    () => eraseKnobs({ uuid: "n", driver_internal_info: { disk_erasure_concurrency: "4" } }),
    (err) =>
      err instanceof InvalidCommandParamsError &&
      err.details.includes('driver_internal_info.disk_erasure_concurrency = "4" is invalid'),
  );
});
