/**
 * Managers served over HTTP by a local `Deno.serve` file server on 127.0.0.1: loading, ranking,
 * dispatch, sha256 pins and shape errors. (Tests run with -A, so the import grant itself is
 * tested against the real agent in tests/manager_import_grant_test.ts.)
 */
import assert from "node:assert/strict";
import { HardwareManagerConfigurationError } from "../api/errors.ts";
import { defaultConfig } from "../config.ts";
import { Logger, setSink } from "../log.ts";
import type { Runner } from "../system/run.ts";
import { HardwareManagers } from "./dispatch.ts";
import { loadManagers } from "./loader.ts";

setSink(() => {});

const SITE = await Deno.readFile(
  new URL("../../managers/examples/site_manager.ts", import.meta.url),
);

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Serves `files` (path → bytes) on 127.0.0.1; mutate the map to change what is served. */
function fileServer(files: Map<string, Uint8Array<ArrayBuffer>>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const body = files.get(new URL(req.url).pathname);
    return body
      ? new Response(body, { headers: { "content-type": "application/typescript" } })
      : new Response("not found", { status: 404 });
  });
  return { base: `http://127.0.0.1:${server.addr.port}`, server };
}

function setup() {
  const commands: string[] = [];
  const runner: Runner = {
    run(cmd, args) {
      commands.push([cmd, ...args].join(" "));
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
    pipe() {
      throw new Error("unused");
    },
  };
  const managers = new HardwareManagers();
  const context = {
    runner,
    log: new Logger(),
    config: { ...defaultConfig(), diskWaitAttempts: 0 },
    managers,
    images: { prepareImage: () => Promise.reject(new Error("unused")), validate: () => {} },
  };
  return { commands, managers, context };
}

Deno.test("loadManagers() imports a pinned manager over HTTP; it ranks first and wins fullSync", async () => {
  const files = new Map([["/site_manager.ts", SITE]]);
  const { base, server } = fileServer(files);
  try {
    const { commands, managers, context } = setup();
    const url = `${base}/site_manager.ts#sha256=${await sha256(SITE)}`;
    await managers.load(await loadManagers({ sources: [url], context }), context.log);
    assert.deepEqual(
      managers.ranked.map((r) => [r.manager.className, r.support]),
      [["SiteManager", 3], ["GenericHardwareManager", 1]],
    );
    // The generic manager's initialize() starts software RAID arrays (spec 12).
    assert.deepEqual(commands.splice(0), ["mdadm --assemble --scan --verbose"]);
    await managers.dispatch("fullSync");
    // The site manager's fullSync runs `sync` only; the generic one would flush every disk.
    assert.deepEqual(commands, ["sync"]);
    assert.ok(
      managers.stepLists("clean").steps.SiteManager?.some((s) => s.step === "record_asset_tag"),
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("loadManagers() refuses a changed file, naming the URL and both hashes", async () => {
  const tampered = new TextEncoder().encode(
    new TextDecoder().decode(SITE).replace('"sync"', '"reboot"'),
  );
  const files = new Map([["/site_manager.ts", tampered]]);
  const { base, server } = fileServer(files);
  try {
    const pin = await sha256(SITE);
    const actual = await sha256(tampered);
    await assert.rejects(
      () =>
        loadManagers({
          sources: [`${base}/site_manager.ts#sha256=${pin}`],
          context: setup().context,
        }),
      (err: Error) =>
        err instanceof HardwareManagerConfigurationError &&
        err.message.includes(`${base}/site_manager.ts`) && err.message.includes(pin) &&
        err.message.includes(actual),
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("loadManagers() stops on an unreachable, malformed or wrongly shaped manager", async (t) => {
  const files = new Map([
    [
      "/shape.ts",
      new TextEncoder().encode(`export default () => ({ name: "s", className: "S",
      version: "1", evaluateSupport: () => Promise.resolve(3), steps: [], capabilities: 5 });\n`),
    ],
    ["/syntax.ts", new TextEncoder().encode("export default ( =>\n")],
  ]);
  const { base, server } = fileServer(files);
  const cases: [string, string, RegExp][] = [
    [
      "404 with a pin",
      `${base}/missing.ts#sha256=${"0".repeat(64)}`,
      /Cannot fetch hardware manager .*missing\.ts: HTTP 404/,
    ],
    ["404 without a pin", `${base}/missing.ts`, /Cannot load hardware manager .*missing\.ts/],
    ["syntax error", `${base}/syntax.ts`, /Cannot load hardware manager .*syntax\.ts/],
    ["malformed pin", `${base}/shape.ts#sha256=xyz`, /shape\.ts#sha256=xyz has a malformed pin/],
    ["wrong shape", `${base}/shape.ts`, /shape\.ts has the wrong shape: .*manager\.capabilities/],
  ];
  try {
    for (const [name, source, expected] of cases) {
      await t.step(name, async () => {
        await assert.rejects(
          () => loadManagers({ sources: [source], context: setup().context }),
          (err: Error) =>
            err instanceof HardwareManagerConfigurationError && expected.test(err.message),
        );
      });
    }
  } finally {
    await server.shutdown();
  }
});
