import assert from "node:assert/strict";
import { BlockDeviceEraseError } from "../api/errors.ts";
import { Logger } from "../log.ts";
import { fakeRunner, testdata } from "./_test_runner.ts";
import { chooseNvmeMethod, nvmeErase, parseIdCtrl, parseSanitizeLog } from "./nvme.ts";

const log = new Logger({ test: "nvme" });
const DEV = "/dev/nvme0n1";
const noSleep = () => Promise.resolve();

function idCtrl(file: string) {
  return (line: string) =>
    line === `nvme id-ctrl ${DEV} -o json` ? testdata(`nvme/${file}`) : undefined;
}
const ok = (prefix: string) => (line: string) => line.startsWith(prefix) ? "" : undefined;

Deno.test("chooseNvmeMethod() prefers sanitize crypto, then block, then format crypto, then user data", async (t) => {
  const cases: [string, string | null][] = [
    ["id-ctrl-sanitize-crypto-hand.json", "nvme_sanitize_crypto"],
    ["id-ctrl-sanitize-block-only-hand.json", "nvme_sanitize_block"],
    ["id-ctrl-format-crypto-hand.json", "nvme_format_crypto"],
    ["id-ctrl-format-user-data-hand.json", "nvme_format_user_data"],
    ["id-ctrl-no-format-hand.json", null],
  ];
  for (const [file, method] of cases) {
    await t.step(file, () => {
      assert.equal(chooseNvmeMethod(parseIdCtrl(DEV, testdata(`nvme/${file}`))), method);
    });
  }
});

Deno.test("parseIdCtrl() refuses empty and non-object output, naming the device", () => {
  assert.throws(() => parseIdCtrl(DEV, "  \n"), /nvme0n1.*returned nothing/);
  assert.throws(() => parseIdCtrl(DEV, "[1]"), /nvme0n1.*returned \[1\]/);
});

Deno.test("parseSanitizeLog() reads nvme-cli 2.x nested output and a numeric sstat", () => {
  assert.deepEqual(parseSanitizeLog(testdata("nvme/sanitize-log-in-progress-hand.json")), {
    status: 2,
    progress: 32768,
  });
  assert.equal(parseSanitizeLog(testdata("nvme/sanitize-log-done-hand.json")).status, 1);
  assert.equal(parseSanitizeLog('{"sprog": 0, "sstat": 259}').status, 3);
});

Deno.test("nvmeErase() formats with crypto erase (-s 2) when fna bit 2 is set", async () => {
  const runner = fakeRunner(idCtrl("id-ctrl-format-crypto-hand.json"), ok("nvme format"));
  assert.equal(await nvmeErase(runner, DEV, { log }), "nvme_format_crypto");
  assert.deepEqual(runner.calls, [`nvme id-ctrl ${DEV} -o json`, `nvme format ${DEV} -s 2 -f`]);
});

Deno.test("nvmeErase() formats with user-data erase (-s 1) without crypto erase", async () => {
  const runner = fakeRunner(idCtrl("id-ctrl-format-user-data-hand.json"), ok("nvme format"));
  assert.equal(await nvmeErase(runner, DEV, { log }), "nvme_format_user_data");
  assert.equal(runner.calls[1], `nvme format ${DEV} -s 1 -f`);
});

Deno.test("nvmeErase() starts a crypto sanitize and polls the log until it completes", async () => {
  const logs = ["sanitize-log-in-progress-hand.json", "sanitize-log-done-hand.json"];
  const runner = fakeRunner(
    idCtrl("id-ctrl-sanitize-crypto-hand.json"),
    ok(`nvme sanitize ${DEV}`),
    (line) => line.startsWith("nvme sanitize-log") ? testdata(`nvme/${logs.shift()}`) : undefined,
  );
  const methods: string[] = [];
  const method = await nvmeErase(runner, DEV, {
    log,
    sleep: noSleep,
    onMethod: (m) => methods.push(m),
  });
  assert.equal(method, "nvme_sanitize_crypto");
  assert.deepEqual(methods, ["nvme_sanitize_crypto"]);
  assert.deepEqual(runner.calls, [
    `nvme id-ctrl ${DEV} -o json`,
    `nvme sanitize ${DEV} --sanact=4`,
    `nvme sanitize-log ${DEV} -o json`,
    `nvme sanitize-log ${DEV} -o json`,
  ]);
});

Deno.test("nvmeErase() uses block-erase sanitize (--sanact=2) without crypto sanitize", async () => {
  const runner = fakeRunner(
    idCtrl("id-ctrl-sanitize-block-only-hand.json"),
    ok(`nvme sanitize ${DEV}`),
    (line) =>
      line.startsWith("nvme sanitize-log")
        ? testdata("nvme/sanitize-log-done-hand.json")
        : undefined,
  );
  assert.equal(await nvmeErase(runner, DEV, { log, sleep: noSleep }), "nvme_sanitize_block");
  assert.equal(runner.calls[1], `nvme sanitize ${DEV} --sanact=2`);
});

Deno.test("nvmeErase() fails when the sanitize log reports failure", async () => {
  const runner = fakeRunner(
    idCtrl("id-ctrl-sanitize-crypto-hand.json"),
    ok(`nvme sanitize ${DEV}`),
    (line) =>
      line.startsWith("nvme sanitize-log")
        ? testdata("nvme/sanitize-log-failed-hand.json")
        : undefined,
  );
  await assert.rejects(
    nvmeErase(runner, DEV, { log, sleep: noSleep }),
    (err) => err instanceof BlockDeviceEraseError && /nvme0n1.*sanitize failed/.test(err.details),
  );
});

Deno.test("nvmeErase() refuses a controller without format support and issues no format", async () => {
  const runner = fakeRunner(idCtrl("id-ctrl-no-format-hand.json"));
  await assert.rejects(
    nvmeErase(runner, DEV, { log }),
    (err) =>
      err instanceof BlockDeviceEraseError &&
      /did not return any supported format modes/.test(err.details),
  );
  assert.deepEqual(runner.calls, [`nvme id-ctrl ${DEV} -o json`]);
});

Deno.test("nvmeErase() turns a failed nvme format into BlockDeviceEraseError", async () => {
  const runner = fakeRunner(
    idCtrl("id-ctrl-format-crypto-hand.json"),
    (line) =>
      line.startsWith("nvme format")
        ? { code: 1, stderr: "NVMe status: INVALID_FORMAT" }
        : undefined,
  );
  await assert.rejects(
    nvmeErase(runner, DEV, { log }),
    (err) => err instanceof BlockDeviceEraseError && /INVALID_FORMAT/.test(err.details),
  );
});
