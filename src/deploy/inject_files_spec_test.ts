import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import { decodeBase64, injectFilesArgs, parseInjectFiles } from "./inject_files_spec.ts";

const HELLO = btoa("hello\n");

function rejects(fromProperties: unknown, fromArgs: unknown, pattern: RegExp): void {
  assert.throws(() => parseInjectFiles(fromProperties, fromArgs), (err: unknown) => {
    assert.ok(err instanceof InvalidCommandParamsError, String(err));
    assert.match(err.details, pattern);
    return true;
  });
}

Deno.test("parseInjectFiles() merges node properties before the files argument", () => {
  const files = parseInjectFiles(
    [{ path: "/etc/motd", content: HELLO }],
    [
      { path: "/etc/app/conf", content: "http://h/{node[uuid]}", mode: 0o600, dirmode: 0o700 },
      { path: "/root.txt", partition: "2", deleted: true, owner: 0, group: -1 },
      { path: "/boot.cfg", partition: "/dev/nvme0n1p1", content: "", mode: 0 },
    ],
  );
  assert.deepEqual(files.map((f) => f.source), [
    "node.properties.inject_files[0]",
    "files[0]",
    "files[1]",
    "files[2]",
  ]);
  assert.deepEqual(files[0]!.components, ["etc", "motd"]);
  assert.equal(files[0]!.partition, null);
  assert.equal(files[1]!.mode, 0o600);
  assert.equal(files[1]!.dirmode, 0o700);
  // A digit string is a partition number (IPA int()); -1 means "leave unchanged".
  assert.deepEqual(
    [files[2]!.partition, files[2]!.deleted, files[2]!.owner, files[2]!.group, files[2]!.content],
    [2, true, 0, null, null],
  );
  // Mode 0 is ignored, as IPA's `if fl.get('mode')` does.
  assert.deepEqual([files[3]!.partition, files[3]!.mode, files[3]!.content], [
    "/dev/nvme0n1p1",
    null,
    "",
  ]);
});

Deno.test("parseInjectFiles() treats empty sources as no files", () => {
  assert.deepEqual(parseInjectFiles(undefined, undefined), []);
  assert.deepEqual(parseInjectFiles(null, []), []);
  assert.deepEqual(parseInjectFiles({}, null), []);
});

Deno.test("parseInjectFiles() refuses bad lists and items, naming the item and key", async (t) => {
  const cases: [string, unknown, unknown, RegExp][] = [
    [
      "property not a list",
      { path: "/etc/x" },
      [],
      /The `inject_files` node property must be a list, got object/,
    ],
    ["files not a list", [], "x", /The `files` argument must be a list, got string/],
    ["item not an object", [], ["x"], /files\[0\] must be an object/],
    [
      "unknown key",
      [],
      [{ path: "/etc/x", content: HELLO, size: 3 }],
      /files\[0\]: unexpected key\(s\) "size"/,
    ],
    ["missing path", [], [{ content: HELLO }], /files\[0\]\.path must be a string/],
    ["path not a string", [], [{ path: 3, content: HELLO }], /files\[0\]\.path must be a string/],
    [
      "relative path",
      [],
      [{ path: "etc/x", content: HELLO }],
      /files\[0\]\.path "etc\/x" must be absolute/,
    ],
    [
      "directory",
      [],
      [{ path: "/etc/", content: HELLO }],
      /files\[0\]\.path "\/etc\/": directories are not supported/,
    ],
    [
      "dot-dot",
      [],
      [{ path: "/etc/../x", content: HELLO }],
      /must not contain empty, "\." or "\.\." components/,
    ],
    ["double slash", [], [{ path: "/etc//x", content: HELLO }], /must not contain empty/],
    [
      "root file without partition",
      [],
      [{ path: "/x", content: HELLO }],
      /files\[0\]\.path "\/x" in the root directory requires "partition"/,
    ],
    [
      "mode a string",
      [],
      [{ path: "/etc/x", content: HELLO, mode: "0644" }],
      /files\[0\]\.mode must be an integer/,
    ],
    [
      "mode a bool",
      [],
      [{ path: "/etc/x", content: HELLO, mode: true }],
      /files\[0\]\.mode must be an integer/,
    ],
    [
      "mode a float",
      [],
      [{ path: "/etc/x", content: HELLO, mode: 4.5 }],
      /files\[0\]\.mode must be an integer/,
    ],
    [
      "mode too big",
      [],
      [{ path: "/etc/x", content: HELLO, mode: 0o10000 }],
      /files\[0\]\.mode must be at most/,
    ],
    [
      "dirmode null",
      [],
      [{ path: "/etc/x", content: HELLO, dirmode: null }],
      /files\[0\]\.dirmode must be an integer/,
    ],
    [
      "owner a string",
      [],
      [{ path: "/etc/x", content: HELLO, owner: "root" }],
      /files\[0\]\.owner must be an integer/,
    ],
    [
      "group negative",
      [],
      [{ path: "/etc/x", content: HELLO, group: -2 }],
      /files\[0\]\.group must be -1 or more/,
    ],
    [
      "content and deleted",
      [],
      [{ path: "/etc/x", content: HELLO, deleted: true }],
      /files\[0\]: "content" cannot be used with "deleted"/,
    ],
    [
      "no content",
      [],
      [{ path: "/etc/x" }],
      /files\[0\]: "content" is required unless "deleted" is true/,
    ],
    [
      "deleted a string",
      [],
      [{ path: "/etc/x", deleted: "yes" }],
      /files\[0\]\.deleted must be true or false/,
    ],
    [
      "bad base64",
      [],
      [{ path: "/etc/x", content: "not base64!" }],
      /files\[0\]\.content: content is neither a URL nor valid base64/,
    ],
    [
      "file URL",
      [],
      [{ path: "/etc/x", content: "file:///etc/shadow" }],
      /files\[0\]\.content: content URL "file:\/\/\/etc\/shadow" must be http:\/\/ or https:\/\//,
    ],
    [
      "bad placeholder",
      [],
      [{ path: "/etc/x", content: "http://h/{node.uuid}" }],
      /files\[0\]\.content: Cannot expand the inject_files URL .*placeholder \{node\.uuid\}/,
    ],
    [
      "partition object",
      [],
      [{ path: "/etc/x", content: HELLO, partition: {} }],
      /files\[0\]\.partition must be an integer or a device path/,
    ],
    [
      "partition negative",
      [],
      [{ path: "/etc/x", content: HELLO, partition: -1 }],
      /files\[0\]\.partition -1 must be 1 or more/,
    ],
    [
      "partition not under /dev",
      [],
      [{ path: "/etc/x", content: HELLO, partition: "/tmp/disk.img" }],
      /files\[0\]\.partition "\/tmp\/disk\.img" must be a partition number or a device path under \/dev\//,
    ],
    ["partition escaping /dev", [], [{
      path: "/etc/x",
      content: HELLO,
      partition: "/dev/../tmp/x",
    }], /must be a partition number or a device path/],
    [
      "second property item",
      [{ path: "/etc/a", content: HELLO }, { path: "/etc/b", mode: "x", content: HELLO }],
      [],
      /node\.properties\.inject_files\[1\]\.mode must be an integer/,
    ],
  ];
  for (const [name, fromProperties, fromArgs, pattern] of cases) {
    await t.step(name, () => rejects(fromProperties, fromArgs, pattern));
  }
});

Deno.test("parseInjectFiles() reports every problem at once", () => {
  rejects(
    [],
    [{ path: "x", content: HELLO }, { path: "/etc/y", content: HELLO, mode: "1" }],
    /^Validation of files failed: files\[0\]\.path "x" must be absolute; files\[1\]\.mode must be an integer$/,
  );
});

Deno.test("decodeBase64() accepts line-wrapped base64", () => {
  const wrapped = btoa("a".repeat(100)).replace(/(.{76})/g, "$1\n");
  assert.equal(new TextDecoder().decode(decodeBase64(wrapped)), "a".repeat(100));
});

Deno.test("injectFilesArgs refuses a verify_ca that is not a boolean", () => {
  assert.equal(injectFilesArgs.safeParse({ verify_ca: "no" }).success, false);
  assert.equal(injectFilesArgs.safeParse({ verify_ca: false, files: [] }).success, true);
});
