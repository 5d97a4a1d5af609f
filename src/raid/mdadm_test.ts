import assert from "node:assert/strict";
import { testdata } from "../erase/_test_runner.ts";
import { holderDisks, holderOfPartition, parseMdadmDetail, partitionName } from "./mdadm.ts";

Deno.test("parseMdadmDetail() reads name, level and members of a RAID 1", () => {
  const detail = parseMdadmDetail(testdata("mdadm/detail-raid1-4.2-hand.txt"));
  assert.deepEqual(detail, {
    name: "root",
    level: "raid1",
    state: "clean, resyncing",
    components: ["/dev/sda1", "/dev/sdb1"],
  });
  assert.deepEqual(holderDisks(detail), ["/dev/sda", "/dev/sdb"]);
});

Deno.test("parseMdadmDetail() skips removed members and keeps a name without host", () => {
  const detail = parseMdadmDetail(testdata("mdadm/detail-raid10-degraded-4.2-hand.txt"));
  assert.equal(detail.name, "md1");
  assert.equal(detail.level, "raid10");
  assert.deepEqual(detail.components, ["/dev/nvme0n1p2", "/dev/nvme1n1p2", "/dev/nvme2n1p2"]);
  assert.deepEqual(holderDisks(detail), ["/dev/nvme0n1", "/dev/nvme1n1", "/dev/nvme2n1"]);
});

Deno.test("parseMdadmDetail() reads real mdadm 4.2 output of RAID 1, 5 and 10", async (t) => {
  const vd = (n: number) => ["a", "b", "c", "d"].map((d) => `/dev/vd${d}${n}`);
  for (
    const [file, expected] of [
      ["detail-raid1-4.2-vm.txt", { name: "root", level: "raid1", state: "clean, resyncing" }],
      ["detail-raid5-4.2-vm.txt", {
        name: "data",
        level: "raid5",
        state: "clean, resyncing (DELAYED)",
      }],
      ["detail-raid10-4.2-vm.txt", {
        name: "data",
        level: "raid10",
        state: "clean, resyncing (DELAYED)",
      }],
    ] as const
  ) {
    await t.step(file, () => {
      const detail = parseMdadmDetail(testdata(`mdadm/${file}`));
      const part = expected.level === "raid1" ? 1 : 2;
      assert.deepEqual(detail, { ...expected, components: vd(part) });
      assert.deepEqual(holderDisks(detail), ["/dev/vda", "/dev/vdb", "/dev/vdc", "/dev/vdd"]);
    });
  }
});

Deno.test("holderOfPartition() and partitionName() handle sd, nvme and loop names", () => {
  assert.equal(holderOfPartition("/dev/sda12"), "/dev/sda");
  assert.equal(holderOfPartition("/dev/nvme0n1p1"), "/dev/nvme0n1");
  assert.equal(holderOfPartition("/dev/loop3p2"), "/dev/loop3");
  assert.equal(partitionName("/dev/sda", 2), "/dev/sda2");
  assert.equal(partitionName("/dev/nvme0n1", 1), "/dev/nvme0n1p1");
  assert.equal(partitionName("/dev/loop3", 1), "/dev/loop3p1");
});
