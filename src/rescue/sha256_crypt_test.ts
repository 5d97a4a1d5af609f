import assert from "node:assert/strict";
import { hashPassword, sha256Crypt } from "./sha256_crypt.ts";

interface Recorded {
  cases: { password: string; setting: string; hash: string }[];
}

const recorded: Recorded = JSON.parse(
  await Deno.readTextFile(
    new URL("../../testdata/rescue/sha256_crypt_glibc.json", import.meta.url),
  ),
);

Deno.test("sha256Crypt matches glibc's crypt(3) for every recorded case", async () => {
  assert.ok(recorded.cases.length >= 5);
  for (const { password, setting, hash } of recorded.cases) {
    assert.equal(await sha256Crypt(password, setting), hash, `setting ${setting}`);
    // Verifying a password is hashing it with the stored hash as the setting.
    assert.equal(await sha256Crypt(password, hash), hash);
  }
});

Deno.test("sha256Crypt refuses a setting of another algorithm", async () => {
  await assert.rejects(() => sha256Crypt("pw", "$6$salt"), /not a "\$5\$" setting/);
});

Deno.test("hashPassword uses a fresh 16-character salt each time", async () => {
  const first = await hashPassword("secret");
  const second = await hashPassword("secret");
  assert.match(first, /^\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
  assert.notEqual(first, second);
  assert.equal(await sha256Crypt("secret", first), first);
  assert.notEqual(await sha256Crypt("Secret", first), first);
});
