import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { validateImageInfo } from "./image_info.ts";
import { checkRootSize, partitionParams } from "./partition_image.ts";

function info(extra: Record<string, unknown>) {
  return validateImageInfo({
    id: "p.img",
    urls: ["http://127.0.0.1/p.img"],
    checksum: "a".repeat(64),
    image_type: "partition",
    ...extra,
  }, { md5Enabled: false });
}

Deno.test("partitionParams() reads sizes given as numbers or strings, with defaults", () => {
  assert.deepEqual(partitionParams(info({ root_mb: "10240", swap_mb: 512 })), {
    rootMiB: 10240,
    swapMiB: 512,
    ephemeralMiB: 0,
    ephemeralFormat: "ext4",
    preserveEphemeral: false,
  });
  assert.deepEqual(
    partitionParams(
      info({ root_mb: 1, ephemeral_mb: 2, ephemeral_format: "xfs", preserve_ephemeral: true }),
    ),
    { rootMiB: 1, swapMiB: 0, ephemeralMiB: 2, ephemeralFormat: "xfs", preserveEphemeral: true },
  );
});

Deno.test("partitionParams() names the field and the value it refuses", async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /image_info\.root_mb must be .*got nothing/],
    [{ root_mb: 0 }, /image_info\.root_mb must be a positive integer \(MiB\), got 0/],
    [{ root_mb: "ten" }, /image_info\.root_mb must be a positive integer \(MiB\), got "ten"/],
    [{ root_mb: 10, swap_mb: -1 }, /image_info\.swap_mb must be .*got -1/],
    [
      { root_mb: 10, ephemeral_format: "ntfs; rm" },
      /image_info\.ephemeral_format must be one of ext2, .*got "ntfs; rm"/,
    ],
  ];
  for (const [extra, pattern] of cases) {
    await t.step(JSON.stringify(extra), () => {
      assert.throws(() => partitionParams(info(extra)), (err: Error) => {
        assert.ok(err instanceof InvalidCommandParamsError);
        assert.match(err.message, pattern);
        return true;
      });
    });
  }
});

Deno.test("checkRootSize() rounds the image up to MiB and compares with root_mb", () => {
  checkRootSize(8 * 1024 * 1024, 8);
  assert.throws(
    () => checkRootSize(8 * 1024 * 1024 + 1, 8),
    /Image virtual size: 9 MB, Root size: 8 MB/,
  );
});
