import assert from "node:assert/strict";
import {
  grantFlags,
  narrowRunGrant,
  type PermissionSet,
  readPermissionSet,
  resolveUnder,
  toolIn,
} from "./grants.ts";
import { compileArgs, denortProblem } from "./compile.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);

Deno.test("grantFlags turns a permission set into flags, relative paths under the app dir", () => {
  const set: PermissionSet = {
    net: true,
    env: false,
    sys: ["hostname"],
    read: ["./", "/etc/x.conf"],
    write: ["./state"],
    run: { allow: ["cat", "grep"], deny: ["sh"] },
  };
  assert.deepEqual(grantFlags(set, resolveUnder("/opt/ipa")), [
    "--allow-net",
    "--allow-sys=hostname",
    "--allow-read=/opt/ipa,/etc/x.conf",
    "--allow-write=/opt/ipa/state",
    "--allow-run=cat,grep",
    "--deny-run=sh",
  ]);
});

Deno.test("grantFlags names the permission and value it cannot use", () => {
  assert.throws(
    () => grantFlags({ run: [""] } as PermissionSet, resolveUnder("/x")),
    /permission "run".*\[""\]/,
  );
  assert.throws(() => grantFlags({ read: ["/a,b"] }, resolveUnder("/x")), /read "\/a,b"/);
});

Deno.test("the agent set in deno.json grants every listed tool and never everything", async () => {
  const set = await readPermissionSet(`${ROOT}deno.json`, "agent");
  const flags = grantFlags(set, resolveUnder("/opt/ipa"));
  const run = flags.find((f) => f.startsWith("--allow-run="));
  assert.ok(run, `no --allow-run list in ${flags.join(" ")}`);
  assert.deepEqual(run.slice("--allow-run=".length).split(","), set.run);
  assert.ok(!flags.includes("--allow-all") && !flags.includes("--allow-run"));
  const args = compileArgs(flags, "/tmp/out");
  assert.ok(!args.includes("-A"));
  assert.equal(args.at(-1), "main.ts");
});

Deno.test("readPermissionSet names the file and the missing set", async () => {
  await assert.rejects(
    () => readPermissionSet(`${ROOT}deno.json`, "no-such-set"),
    /"no-such-set".*deno\.json" has no such object/,
  );
});

Deno.test("denortProblem refuses the deno CLI and a missing file, by name", async () => {
  assert.match(
    (await denortProblem(Deno.execPath(), Deno.execPath())) ?? "",
    /is the deno CLI, not denort/,
  );
  assert.match(
    (await denortProblem("/nonexistent/denort", Deno.execPath())) ?? "",
    /DENORT_BIN="\/nonexistent\/denort" cannot be read/,
  );
});

Deno.test("narrowRunGrant keeps only the tools present and names the dropped ones", () => {
  const present = (tool: string) => tool !== "fio" && tool !== "/usr/bin/absent";
  assert.deepEqual(narrowRunGrant({ net: true, run: ["cat", "fio", "grep"] }, present), {
    set: { net: true, run: ["cat", "grep"] },
    dropped: ["fio"],
  });
  assert.deepEqual(
    narrowRunGrant({ run: { allow: ["/usr/bin/absent", "cat"], deny: ["sh"] } }, present),
    { set: { run: { allow: ["cat"], deny: ["sh"] } }, dropped: ["/usr/bin/absent"] },
  );
  // Nothing to narrow: `true` grants, no run grant at all.
  assert.deepEqual(narrowRunGrant({ run: true }, present).dropped, []);
  assert.deepEqual(narrowRunGrant({ net: true }, present), { set: { net: true }, dropped: [] });
});

Deno.test("toolIn finds tools in a root's PATH directories, dangling symlinks included", async () => {
  const root = await Deno.makeTempDir({ prefix: "ipa-tools-" });
  try {
    await Deno.mkdir(`${root}/usr/sbin`, { recursive: true });
    await Deno.mkdir(`${root}/usr/bin`, { recursive: true });
    await Deno.writeTextFile(`${root}/usr/sbin/mdadm`, "");
    // A busybox applet: an absolute link that only resolves inside the image.
    await Deno.symlink("/usr/bin/busybox-not-on-this-host", `${root}/usr/bin/od`);
    const present = toolIn(`${root}/`);
    assert.ok(present("mdadm"));
    assert.ok(present("od"));
    assert.ok(present("/usr/sbin/mdadm"));
    assert.ok(!present("fio"));
    assert.ok(!present("/usr/bin/fio"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
