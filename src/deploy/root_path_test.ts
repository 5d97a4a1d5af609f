import assert from "node:assert/strict";
import { resolveInRoot } from "./root_path.ts";

async function tree() {
  const root = await Deno.makeTempDir({ prefix: "root-path-test-" });
  await Deno.mkdir(`${root}/etc/ssh`, { recursive: true });
  await Deno.writeTextFile(`${root}/etc/hosts`, "x");
  await Deno.mkdir(`${root}/usr/lib`, { recursive: true });
  await Deno.symlink("usr/lib", `${root}/lib`); // relative
  await Deno.symlink("/etc", `${root}/abs-etc`); // absolute: the image's /etc, not the host's
  await Deno.symlink("../../../../../../etc/passwd", `${root}/etc/escape`);
  await Deno.symlink("/run/missing/resolv.conf", `${root}/etc/resolv.conf`);
  await Deno.symlink("../x/../y", `${root}/etc/climb`);
  await Deno.symlink("loop-b", `${root}/loop-a`);
  await Deno.symlink("loop-a", `${root}/loop-b`);
  return {
    root,
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("resolveInRoot() follows links inside the mount point only", async (t) => {
  await using dir = await tree();
  const { root } = dir;
  const cases: [string, string[], string, string[]][] = [
    ["existing file", ["etc", "hosts"], `${root}/etc/hosts`, []],
    ["missing file", ["etc", "ssh", "key"], `${root}/etc/ssh`, ["key"]],
    ["missing directories", ["etc", "app", "d", "f"], `${root}/etc`, ["app", "d", "f"]],
    ["relative link", ["lib", "x.so"], `${root}/usr/lib`, ["x.so"]],
    ["absolute link stays in the root", ["abs-etc", "hosts"], `${root}/etc/hosts`, []],
    ["dotdot clamps at the root", ["etc", "escape"], `${root}/etc`, ["passwd"]],
    ["dangling absolute link", ["etc", "resolv.conf"], root, ["run", "missing", "resolv.conf"]],
  ];
  for (const [name, components, existing, missing] of cases) {
    await t.step(name, async () => {
      assert.deepEqual(await resolveInRoot(root, components), { existing, missing });
    });
  }
});

Deno.test("resolveInRoot() refuses loops, files used as directories and climbing missing paths", async (t) => {
  await using dir = await tree();
  const cases: [string, string[], RegExp][] = [
    ["loop", ["loop-a", "x"], /too many levels of symbolic links/],
    ["file as directory", ["etc", "hosts", "x"], /etc\/hosts is not a directory/],
    [
      "climbing through a missing directory",
      ["etc", "climb"],
      /does not exist and the path climbs/,
    ],
  ];
  for (const [name, components, pattern] of cases) {
    await t.step(name, async () => {
      await assert.rejects(resolveInRoot(dir.root, components), pattern);
    });
  }
});
