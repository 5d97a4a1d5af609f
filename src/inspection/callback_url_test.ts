import assert from "node:assert/strict";
import { ConfigError } from "../api/errors.ts";
import { inspectionCallbackUrls } from "./callback_url.ts";

Deno.test("inspectionCallbackUrls() follows the rules of spec 06 §2", async (t) => {
  const cases: [string, Parameters<typeof inspectionCallbackUrls>[0], string[]][] = [
    [
      "explicit URL wins over the API URL",
      {
        inspectionCallbackUrl: "http://i:5050/v1/continue",
        apiUrl: ["http://a:6385"],
        collectorsConfigured: true,
      },
      ["http://i:5050/v1/continue"],
    ],
    [
      "a comma-separated list keeps its order",
      {
        inspectionCallbackUrl: " http://a/v1/continue , http://b/v1/continue ",
        apiUrl: [],
        collectorsConfigured: false,
      },
      ["http://a/v1/continue", "http://b/v1/continue"],
    ],
    [
      "collectors + API URLs derive /v1/continue_inspection",
      {
        inspectionCallbackUrl: null,
        apiUrl: ["http://a:6385/", "https://b:6385"],
        collectorsConfigured: true,
      },
      ["http://a:6385/v1/continue_inspection", "https://b:6385/v1/continue_inspection"],
    ],
    [
      "default collectors alone do not enable inspection",
      { inspectionCallbackUrl: null, apiUrl: ["http://a:6385"], collectorsConfigured: false },
      [],
    ],
    [
      "collectors without an API URL do not enable inspection",
      { inspectionCallbackUrl: "", apiUrl: [], collectorsConfigured: true },
      [],
    ],
  ];
  for (const [label, settings, expected] of cases) {
    await t.step(label, () => assert.deepEqual(inspectionCallbackUrls(settings), expected));
  }
});

Deno.test("inspectionCallbackUrls() refuses mdns with a message naming it", () => {
  assert.throws(
    () =>
      inspectionCallbackUrls({
        inspectionCallbackUrl: "mdns",
        apiUrl: [],
        collectorsConfigured: false,
      }),
    (err: unknown) => err instanceof ConfigError && /"mdns"/.test(err.details),
  );
});
