import assert from "node:assert/strict";
import { Logger, redact, setSink } from "../log.ts";
import { acceptAgentToken } from "./agent_token.ts";

const TOKEN = "Xq3yZ0f9LlC2pQ8rT1uV6wB4nM7kJ5hG2dS0aE9cR1o";

Deno.test("acceptAgentToken() registers adopted tokens as log secrets", () => {
  const lines: string[] = [];
  const restore = setSink((line) => lines.push(line));
  try {
    const decision = acceptAgentToken(TOKEN, null, new Logger());
    assert.deepEqual(decision, { token: TOKEN, unavailable: false });
    assert.equal(redact(`token is ${TOKEN}`), "token is ***");
  } finally {
    restore();
  }
});

Deno.test("acceptAgentToken() ignores 32+ characters that contain the mask", () => {
  const restore = setSink(() => {});
  try {
    const masked = "******" + "a".repeat(40);
    assert.deepEqual(acceptAgentToken(masked, null, new Logger()), {
      token: null,
      unavailable: false,
    });
  } finally {
    restore();
  }
});
