import assert from "node:assert/strict";
import { loadManagers, toSpecifier, validateManager } from "./loader.ts";
import { HardwareManagerConfigurationError } from "../api/errors.ts";
import type { ManagerContext } from "./manager.ts";
import { HardwareManagers } from "./dispatch.ts";
import { defaultConfig } from "../config.ts";
import { Logger } from "../log.ts";
import { systemRunner } from "../system/run.ts";

function context(): ManagerContext {
  return {
    runner: systemRunner,
    log: new Logger(),
    config: defaultConfig(),
    managers: new HardwareManagers(),
    images: {
      prepareImage: () => Promise.reject(new Error("unused")),
      validate: () => {},
    },
  };
}

Deno.test("toSpecifier() keeps URLs and resolves paths against the working directory", () => {
  assert.equal(toSpecifier("https://example.test/m.ts"), "https://example.test/m.ts");
  assert.equal(toSpecifier("/opt/m.ts"), "file:///opt/m.ts");
  assert.equal(toSpecifier("managers/x.ts"), `file://${Deno.cwd()}/managers/x.ts`);
});

Deno.test("validateManager() names the source and the wrong member", () => {
  assert.throws(
    () => validateManager({ name: "x", className: "X", version: 1, steps: [] }, "file:///m.ts"),
    (err: Error) =>
      err instanceof HardwareManagerConfigurationError && /file:\/\/\/m\.ts/.test(err.message) &&
      /manager\.version/.test(err.message) && /manager\.evaluateSupport/.test(err.message),
  );
  assert.throws(
    () =>
      validateManager({
        name: "x",
        className: "X",
        version: "1",
        evaluateSupport: () => 1,
        capabilities: {},
        steps: [{ step: "Bad Name", interface: "deploy", run: () => {} }],
      }, "m.ts"),
    /manager\.steps\.0\.step/,
  );
});

Deno.test("loadManagers() refuses a module that cannot be loaded or has no factory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/no_default.ts`, "export const x = 1;\n");
    await assert.rejects(
      () => loadManagers({ sources: [`${dir}/missing.ts`], context: context() }),
      (err: Error) =>
        err instanceof HardwareManagerConfigurationError &&
        err.message.includes(`Cannot load hardware manager ${dir}/missing.ts`),
    );
    await assert.rejects(
      () => loadManagers({ sources: [`${dir}/no_default.ts`], context: context() }),
      /must default-export a factory function, got undefined/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadManagers() loads the generic manager first, then configured ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/site.ts`,
      `export default () => ({ name: "site", className: "SiteManager", version: "3",
        evaluateSupport: () => Promise.resolve(3), steps: [], capabilities: {} });\n`,
    );
    const managers = await loadManagers({ sources: [`${dir}/site.ts`], context: context() });
    assert.deepEqual(managers.map((m) => m.className), ["GenericHardwareManager", "SiteManager"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
