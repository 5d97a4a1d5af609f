import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { setSink } from "../log.ts";
import { sha256Crypt } from "../rescue/sha256_crypt.ts";
import { CommandExecutor } from "./executor.ts";
import { CommandRegistry } from "./registry.ts";
import { rescueCommands, rescuePaths } from "./rescue.ts";

setSink(() => {});

async function setup(options: { protectHost?: boolean } = {}) {
  const stateDir = await Deno.makeTempDir({ prefix: "rescue-test-" });
  const stops: number[] = [];
  const deps = {
    protectHost: options.protectHost ?? true,
    stateDir,
    requestStop: () => stops.push(Date.now()),
  };
  const executor = new CommandExecutor({ registry: new CommandRegistry(rescueCommands(deps)) });
  const paths = rescuePaths(deps);
  return {
    executor,
    paths,
    stops,
    stateDir,
    async [Symbol.asyncDispose]() {
      await Deno.remove(stateDir, { recursive: true });
    },
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      for (const inner of await listFiles(`${dir}/${entry.name}`)) {
        out.push(`${entry.name}/${inner}`);
      }
    } else out.push(entry.name);
  }
  return out.sort();
}

Deno.test("rescuePaths: /etc in the ramdisk, the state dir under --protect-host", () => {
  assert.deepEqual(rescuePaths({ protectHost: false, stateDir: "/run/ipa" }), {
    passwordFile: "/etc/ipa-rescue-config/ipa-rescue-password",
    marker: "/etc/.rescued",
  });
  assert.deepEqual(rescuePaths({ protectHost: true, stateDir: "/tmp/s" }), {
    passwordFile: "/tmp/s/ipa-rescue-config/ipa-rescue-password",
    marker: "/tmp/s/.rescued",
  });
});

Deno.test("finalize_rescue hashes a plain password, writes it 0600, marks rescue and stops", async () => {
  await using t = await setup();
  const record = await t.executor.execute("rescue.finalize_rescue", {
    rescue_password: "correct horse",
  });
  assert.equal(record.status, "SUCCEEDED");
  assert.equal(record.result, null);
  const stored = (await Deno.readTextFile(t.paths.passwordFile)).trim();
  assert.match(stored, /^\$5\$[./0-9A-Za-z]{16}\$/);
  assert.equal(
    await sha256Crypt("correct horse", stored),
    stored,
    "the hash verifies the password",
  );
  assert.equal((await Deno.stat(t.paths.passwordFile)).mode! & 0o777, 0o600);
  await Deno.stat(t.paths.marker);
  assert.equal(t.stops.length, 1, "the agent stops serving");
});

Deno.test("finalize_rescue stores a hashed password exactly as the conductor sent it", async () => {
  await using t = await setup();
  const hash = "$6$rounds=656000$0123456789abcdef$" + "x".repeat(86);
  const record = await t.executor.execute("rescue.finalize_rescue", {
    rescue_password: hash,
    hashed: true,
  });
  assert.equal(record.status, "SUCCEEDED");
  assert.equal(await Deno.readTextFile(t.paths.passwordFile), `${hash}\n`);
  assert.equal(t.stops.length, 1);
});

Deno.test("finalize_rescue refuses bad passwords with a 400 and writes nothing", async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["empty", { rescue_password: "" }, /"rescue_password" is empty/],
    ["blank", { rescue_password: "  \t" }, /"rescue_password" is empty/],
    ["missing", {}, /params\.rescue_password: is required/],
    [
      "a number",
      { rescue_password: 1234 },
      /params\.rescue_password: must be a string, not number/,
    ],
    ["null", { rescue_password: null }, /must be a string, not null/],
    ["an object", { rescue_password: { p: "x" } }, /must be a string, not object/],
    ["hashed flag not boolean", { rescue_password: "x", hashed: "yes" }, /params\.hashed/],
    [
      "hashed but not a hash",
      { rescue_password: "plain:text", hashed: true },
      /is not a crypt\(3\) hash/,
    ],
    ["a hash with a newline", { rescue_password: "$5$a$b\nroot::0", hashed: true }, /crypt\(3\)/],
  ];
  for (const [label, params, message] of cases) {
    await t.step(label, async () => {
      await using s = await setup();
      await assert.rejects(
        s.executor.execute("rescue.finalize_rescue", params),
        (err: unknown) => {
          assert.ok(err instanceof InvalidCommandParamsError, String(err));
          assert.equal(err.code, 400);
          assert.match(err.details, message);
          // The refused value is never echoed back.
          if (typeof params.rescue_password === "string" && params.rescue_password.length > 4) {
            assert.ok(!err.details.includes(params.rescue_password));
          }
          return true;
        },
      );
      assert.deepEqual(await listFiles(s.stateDir), [], "nothing written");
      assert.equal(s.stops.length, 0, "still serving");
    });
  }
});

Deno.test("finalize_rescue fails without stopping when the password cannot be written", async () => {
  await using t = await setup();
  // A file where the directory should be: mkdir fails.
  await Deno.writeTextFile(`${t.stateDir}/ipa-rescue-config`, "");
  const record = await t.executor.execute("rescue.finalize_rescue", { rescue_password: "pw12" });
  assert.equal(record.status, "FAILED");
  assert.match(
    record.error?.details ?? "",
    /Cannot write the rescue password to ".*ipa-rescue-pass/,
  );
  assert.equal(t.stops.length, 0, "a failed rescue keeps the agent reachable");
  assert.deepEqual(await listFiles(t.stateDir), ["ipa-rescue-config"]);
});
