import assert from "node:assert/strict";
import { decodeErrorMessage } from "./error_message.ts";

Deno.test("decodeErrorMessage() extracts the faultstring of every body shape", async (t) => {
  const cases: [string, string, string][] = [
    [
      "JSON-encoded string",
      JSON.stringify({
        error_message: JSON.stringify({
          faultcode: "Client",
          faultstring: "Resource could not be found.",
          debuginfo: null,
        }),
      }),
      "Resource could not be found.",
    ],
    [
      "object",
      JSON.stringify({ error_message: { faultstring: "Node is locked" } }),
      "Node is locked",
    ],
    ["title fallback", JSON.stringify({ error_message: { title: "Forbidden" } }), "Forbidden"],
    ["plain string", JSON.stringify({ error_message: "something broke" }), "something broke"],
    ["raw text", "<html>502 Bad Gateway</html>\n", "<html>502 Bad Gateway</html>"],
    ["top-level faultstring", JSON.stringify({ faultstring: "busy" }), "busy"],
    ["empty body", "", ""],
  ];
  for (const [name, body, expected] of cases) {
    await t.step(name, () => assert.equal(decodeErrorMessage(body), expected));
  }
});
