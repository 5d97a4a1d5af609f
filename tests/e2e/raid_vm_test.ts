/**
 * Software RAID with the real kernel MD driver and mdadm, inside the ramdisk booted in qemu (the
 * development machine's kernel has no MD driver, so src/raid/raid_loop_test.ts cannot build
 * arrays there). One boot, four sparse virtio disks, the agent standalone; through its API:
 *
 *   1. raid.create_configuration (clean step): RAID 1 "root" + RAID 5 "data"
 *   2. raid.delete_configuration (clean step)
 *   3. raid.create_configuration: RAID 1 "root" + RAID 10 "data"
 *   4. raid.apply_configuration (deploy step, delete_existing): RAID 1 "boot" + RAID 5 "srv"
 *   5. raid.delete_configuration
 *
 * After each step the test reads the guest's state from `log.collect_system_logs`: the
 * `mdadm --detail` of every array (level, members, state) and `lsblk` (partitions, signatures).
 * After the power-off, the host attaches each disk file read-only and checks with `wipefs` and
 * `mdadm --examine` that nothing is left on the holder disks.
 *
 *   deno test -A --no-prompt tests/e2e/raid_vm_test.ts
 *
 * The guest's agent runs without --protect-host: its disks are the VM's files, not the host's.
 */
import assert from "node:assert/strict";
import { type MdDetail, parseMdadmDetail } from "../../src/raid/mdadm.ts";
import { sha256Hex } from "../harness/flow_fixtures.ts";
import { printDiagnostics, printTails, sleep, tool, toolStatus } from "../harness/process_util.ts";
import { startImageServer } from "../harness/image_server.ts";
import {
  createDiskFiles,
  ensureRamdisk,
  HOST_FROM_GUEST,
  qemuInstalled,
  type Ramdisk,
  startVm,
  type VmProcess,
} from "../harness/vm.ts";

const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);
const ARTIFACTS = `${ROOT}tests/.out`;
const BOOT_BOUND_MS = 300_000;
const STEP_BOUND_MS = 300_000;
const POWEROFF_BOUND_MS = 120_000;
const HOLDERS = ["vda", "vdb", "vdc", "vdd"];

type Json = Record<string, unknown>;

/** Boots the ramdisk on `disks` with the agent standalone, answering to `token`. */
function startStandaloneVm(
  ramdisk: Ramdisk,
  disks: string[],
  serialLog: string,
  token: string,
): Promise<VmProcess> {
  return startVm({
    ...ramdisk,
    disks,
    serialLog,
    params: {
      "ipa-standalone": "1",
      "ipa-debug": "1",
      "ipa-agent-token": token,
      // No disk reaches the 4 GiB of an install device; do not wait for one.
      "ipa-disk-wait-attempts": "1",
    },
  });
}

/** Polls the guest agent's status until it answers (bounded by BOOT_BOUND_MS). */
async function waitForAgent(vm: VmProcess): Promise<void> {
  const bootBy = vm.startedAt + BOOT_BOUND_MS;
  while (!vm.exited && Date.now() < bootBy) {
    try {
      const res = await fetch(`${vm.url}/v1/status`, { signal: AbortSignal.timeout(3000) });
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // slirp accepts before the guest listens; retry.
    }
    await sleep(2000);
  }
  assert.fail(`the agent did not answer within ${BOOT_BOUND_MS} ms (${vm.accel})`);
}

/** Asks the agent to power the guest off and waits (bounded) until qemu has ended. */
async function powerOff(vm: VmProcess, token: string): Promise<void> {
  // The guest may power off before the answer reaches the host: any answer, or none.
  await fetch(`${vm.url}/v1/commands/?wait=true`, {
    method: "POST",
    headers: { "X-Agent-Token": token, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "standby.power_off", params: {} }),
    signal: AbortSignal.timeout(60_000),
  }).then((res) => res.body?.cancel(), () => {});
  const offBy = Date.now() + POWEROFF_BOUND_MS;
  while (!vm.exited && Date.now() < offBy) await sleep(500);
  assert.ok(vm.exited, `the VM did not power off within ${POWEROFF_BOUND_MS} ms`);
}

class AgentClient {
  constructor(readonly vm: VmProcess, readonly token: string) {}

  async #call(method: string, path: string, body?: Json): Promise<Json> {
    const res = await fetch(`${this.vm.url}${path}`, {
      method,
      headers: { "X-Agent-Token": this.token, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(120_000),
    });
    const json = await res.json() as Json;
    assert.ok(res.ok, `${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
    return json;
  }

  /** Runs a command and polls it to the end (bounded); returns its result. */
  async run(name: string, params: Json): Promise<Json> {
    const started = await this.#call("POST", "/v1/commands/", { name, params });
    let record = started;
    const by = performance.now() + STEP_BOUND_MS;
    while (record.command_status === "RUNNING" && performance.now() < by) {
      await sleep(2000);
      record = await this.#call("GET", `/v1/commands/${started.id}`);
    }
    assert.equal(
      record.command_status,
      "SUCCEEDED",
      `${name} did not succeed within ${STEP_BOUND_MS} ms: ${JSON.stringify(record)}`,
    );
    return record.command_result as Json;
  }

  /** What the guest's log archive says about md arrays and the holder disks. */
  async state(dir: string): Promise<GuestState> {
    const result = await this.run("log.collect_system_logs", {});
    const archive = `${dir}/logs.tar.gz`;
    const out = `${dir}/logs`;
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.mkdir(out);
    await Deno.writeFile(
      archive,
      Uint8Array.from(atob(result.system_logs as string), (c) => c.charCodeAt(0)),
    );
    await tool("tar", ["-xzf", archive, "-C", out]);
    const details = new Map<string, { raw: string; detail: MdDetail }>();
    const hasArrays = await Deno.stat(`${out}/mdadm-detail`).then(() => true, () => false);
    for await (const entry of hasArrays ? Deno.readDir(`${out}/mdadm-detail`) : []) {
      const raw = await Deno.readTextFile(`${out}/mdadm-detail/${entry.name}`);
      details.set(entry.name, { raw, detail: parseMdadmDetail(raw) });
    }
    // lsblk --pairs: KEY="value" ...; every row of a vd* disk or partition.
    const rows = (await Deno.readTextFile(`${out}/lsblk-full`)).split("\n").map((line) =>
      Object.fromEntries([...line.matchAll(/([A-Z0-9:_-]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]))
    ).filter((r) => r.KNAME?.startsWith("vd"));
    return { details, mdstat: await Deno.readTextFile(`${out}/mdstat`), lsblk: rows };
  }
}

interface GuestState {
  /** md name (`md0`) → `mdadm --detail` output, raw and parsed. */
  details: Map<string, { raw: string; detail: MdDetail }>;
  mdstat: string;
  lsblk: Record<string, string>[];
}

function software(disks: Json[]): Json {
  return { logical_disks: disks.map((d) => ({ controller: "software", ...d })) };
}

/** Asserts the arrays present are exactly `expected` (volume name → level), on all 4 disks. */
function assertArrays(state: GuestState, expected: Record<string, string>, label: string): void {
  const byName = new Map([...state.details.values()].map(({ detail }) => [detail.name, detail]));
  assert.deepEqual(
    [...byName.keys()].sort(),
    Object.keys(expected).sort(),
    `${label}: arrays ${JSON.stringify([...state.details.keys()])}; mdstat:\n${state.mdstat}`,
  );
  for (const [name, level] of Object.entries(expected)) {
    const detail = byName.get(name)!;
    assert.equal(detail.level, level, `${label}: level of "${name}"`);
    assert.equal(detail.components.length, 4, `${label}: members of "${name}"`);
    // The first logical disk is partition 1 of every holder, the second partition 2.
    const part = name === "root" || name === "boot" ? 1 : 2;
    assert.deepEqual(
      detail.components.slice().sort(),
      HOLDERS.map((h) => `/dev/${h}${part}`),
      `${label}: members of "${name}"`,
    );
    assert.match(detail.state ?? "", /^(clean|active)/, `${label}: state of "${name}"`);
  }
}

/** No md array and no partition or signature left on any holder disk (as the guest sees them). */
function assertClean(state: GuestState, label: string): void {
  assert.equal(state.details.size, 0, `${label}: arrays left: ${[...state.details.keys()]}`);
  assert.doesNotMatch(state.mdstat, /^md\d+ :/m, `${label}: mdstat:\n${state.mdstat}`);
  const names = state.lsblk.map((r) => r.KNAME).sort();
  assert.deepEqual(names, HOLDERS, `${label}: the holder disks have partitions: ${names}`);
  for (const row of state.lsblk) {
    assert.equal(row.FSTYPE ?? "", "", `${label}: ${row.KNAME} carries ${row.FSTYPE}`);
    assert.equal(row.PTTYPE ?? "", "", `${label}: ${row.KNAME} carries a ${row.PTTYPE} table`);
  }
}

/**
 * Host-side check of a disk file after power-off, read-only: no partitions, no signature, no md
 * superblock. The host kernel has no MD driver, but mdadm --examine reads the superblock itself.
 */
async function assertFileClean(file: string): Promise<void> {
  const dev = await tool("losetup", ["--read-only", "--partscan", "--find", "--show", file]);
  const loop = dev.trim();
  try {
    const parts = await tool("lsblk", ["-nro", "KNAME,TYPE", loop]);
    assert.deepEqual(parts.trim().split("\n").filter((l) => l.endsWith(" part")), [], file);
    const signatures = await tool("wipefs", ["--no-act", loop]);
    assert.equal(signatures.trim(), "", `${file} carries signatures:\n${signatures}`);
    const [code] = await toolStatus("mdadm", ["--examine", loop], [0, 1]);
    assert.equal(code, 1, `${file} still has an md superblock`);
  } finally {
    await tool("losetup", ["--detach", loop]);
  }
}

Deno.test({
  name:
    "raid.create/delete/apply_configuration build RAID 1, 5 and 10 with the real MD driver (VM)",
  ignore: !(await qemuInstalled()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ramdisk = await ensureRamdisk();
    const dir = await Deno.makeTempDir({ prefix: "ipa-raid-vm-" });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const serialLog = `${ARTIFACTS}/raid_vm_serial.log`;
    await Deno.writeTextFile(serialLog, "");
    // 2 GiB each: RAID 1 of 1 GiB + the rest; small, so initial resyncs stay short under TCG.
    const disks = await createDiskFiles(dir, HOLDERS.length, 2);
    const token = crypto.randomUUID().replaceAll("-", "");
    const vm = await startStandaloneVm(ramdisk, disks, serialLog, token);
    let ok = false;
    try {
      await waitForAgent(vm);
      // raid456 needs libcrc32c, which needs a crc32c provider (a soft dependency the ramdisk
      // build must follow); init names every module it cannot load.
      assert.doesNotMatch(await Deno.readTextFile(serialLog), /ipa-ramdisk: cannot load module/);
      const bootS = (Date.now() - vm.startedAt) / 1000;
      const agent = new AgentClient(vm, token);
      const timings: string[] = [`boot ${bootS.toFixed(0)} s (${vm.accel})`];
      const timed = async <T>(label: string, f: () => Promise<T>): Promise<T> => {
        const t0 = performance.now();
        const value = await f();
        timings.push(`${label} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        return value;
      };

      const node = (raid: Json) => ({ uuid: "raid-vm-node", target_raid_config: raid });
      const clean = (step: string, raid: Json) =>
        agent.run("clean.execute_clean_step", {
          step: { interface: "raid", step, priority: 0, args: {} },
          node: node(raid),
          ports: [],
        });
      const raid5 = software([
        { size_gb: 1, raid_level: "1", volume_name: "root", is_root_volume: true },
        { size_gb: "MAX", raid_level: "5", volume_name: "data" },
      ]);
      const raid10 = software([
        { size_gb: 1, raid_level: "1", volume_name: "root" },
        { size_gb: "MAX", raid_level: "1+0", volume_name: "data" },
      ]);
      const applied = software([
        { size_gb: 1, raid_level: "1", volume_name: "boot" },
        { size_gb: "MAX", raid_level: "5", volume_name: "srv" },
      ]);

      assertClean(await agent.state(dir), "before any step");

      const created = await timed("create RAID 1 + 5", () => clean("create_configuration", raid5));
      assert.deepEqual(created.clean_result, raid5, "create_configuration returns the config");
      const first = await agent.state(dir);
      assertArrays(first, { root: "raid1", data: "raid5" }, "RAID 1 + RAID 5");

      await timed("delete", () => clean("delete_configuration", raid5));
      assertClean(await agent.state(dir), "after delete_configuration of RAID 1 + 5");

      await timed("create RAID 1 + 10", () => clean("create_configuration", raid10));
      const second = await agent.state(dir);
      assertArrays(second, { root: "raid1", data: "raid10" }, "RAID 1 + RAID 10");

      // The deploy step replaces the RAID 10 layout (delete_existing) with a new one.
      const apply = await timed(
        "apply (deploy step)",
        () =>
          agent.run("deploy.execute_deploy_step", {
            step: {
              interface: "raid",
              step: "apply_configuration",
              priority: 0,
              args: { raid_config: applied, delete_existing: true },
            },
            node: node(raid10),
            ports: [],
          }),
      );
      assert.deepEqual(apply.deploy_result, applied);
      const third = await agent.state(dir);
      assertArrays(third, { boot: "raid1", srv: "raid5" }, "apply_configuration RAID 1 + RAID 5");

      await timed("delete", () => clean("delete_configuration", applied));
      assertClean(await agent.state(dir), "after the last delete_configuration");

      // Kept for the parser tests (testdata/mdadm): real mdadm 4.2 output from this run.
      for (const [label, state] of [["raid5", first], ["raid10", second]] as const) {
        for (const { raw, detail } of state.details.values()) {
          await Deno.writeTextFile(`${ARTIFACTS}/raid_vm_${label}_${detail.name}.txt`, raw);
        }
      }

      await powerOff(vm, token);
      for (const disk of disks) await assertFileClean(disk);
      printDiagnostics(`raid VM: ${timings.join("; ")}; serial log ${serialLog}`);
      ok = true;
    } finally {
      if (!ok) await printTails([{ label: "VM serial console", path: serialLog }], 200);
      await vm.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: "1" };
const IMAGE_ESP_UUID = "CAFE-1234";
const IMAGE_ESP_LABEL = "IMG-ESP";

/**
 * A 48 MiB GPT whole-disk image: partition 1 a 32 MiB FAT ESP (flag esp, volume id CAFE-1234,
 * label IMG-ESP) holding EFI/BOOT/BOOTX64.EFI, partition 2 an empty "root".
 */
async function buildEspImage(dir: string): Promise<string> {
  const path = `${dir}/esp-image.img`;
  using file = await Deno.open(path, { create: true, write: true, truncate: true });
  await file.truncate(48 * 1024 ** 2);
  await tool("parted", [
    "-s",
    path,
    ...["mklabel", "gpt", "mkpart", "esp", "fat32", "1MiB", "33MiB", "set", "1", "esp", "on"],
    ...["mkpart", "root", "ext4", "33MiB", "47MiB"],
  ]);
  const id = IMAGE_ESP_UUID.replace("-", "");
  await tool("mkfs.fat", [
    "-F",
    "16",
    "-n",
    IMAGE_ESP_LABEL,
    "-i",
    id,
    "--offset",
    "2048",
    path,
    "32768",
  ]);
  const loader = `${dir}/BOOTX64.EFI`;
  await Deno.writeTextFile(loader, "MZ not really a loader\n");
  const env = { ...MTOOLS_ENV };
  await tool("mmd", ["-i", `${path}@@1M`, "::/EFI", "::/EFI/BOOT"], { env });
  await tool("mcopy", ["-i", `${path}@@1M`, loader, "::/EFI/BOOT/BOOTX64.EFI"], { env });
  return path;
}

/**
 * Host-side check of one holder disk file after power-off: partition `uefi-holder-<i>` exists
 * (sgdisk), is an md member of the RAID 1 "esp" with metadata 1.0 (mdadm --examine on a
 * read-only loop device over the partition) and, read as plain FAT from its start (what firmware sees), carries
 * the image's ESP: same volume id and label, the loader file (blkid, mdir).
 */
async function assertHolderEsp(file: string, index: number): Promise<void> {
  const table = await tool("sgdisk", ["-p", file]);
  const row = table.split("\n").find((l) => l.trim().endsWith(`uefi-holder-${index}`));
  assert.ok(row, `${file}: no uefi-holder-${index} partition:\n${table}`);
  const [, start, end] = row.trim().split(/\s+/).map(Number);
  assert.match(row, /\sEF00\s/, `${file}: uefi-holder-${index} is not type EF00`);
  const offset = start! * 512;
  const fields = await tool("blkid", ["-p", "-o", "export", "-O", String(offset), file]);
  assert.match(fields, new RegExp(`^UUID=${IMAGE_ESP_UUID}$`, "m"), `${file}: ${fields}`);
  assert.match(fields, new RegExp(`^LABEL=${IMAGE_ESP_LABEL}$`, "m"), `${file}: ${fields}`);
  const listing = await tool("mdir", ["-/", "-b", "-i", `${file}@@${offset}`, "::/"], {
    env: MTOOLS_ENV,
  });
  assert.match(listing, /^::\/EFI\/BOOT\/BOOTX64\.EFI$/m, `${file}: ESP files:\n${listing}`);
  // The partition alone (metadata 1.0 sits at its end): a loop device over its exact extent.
  const dev = await tool("losetup", [
    "--read-only",
    "--offset",
    String(offset),
    "--sizelimit",
    String((end! - start! + 1) * 512),
    "--find",
    "--show",
    file,
  ]);
  const loop = dev.trim();
  try {
    const examine = await tool("mdadm", ["--examine", loop]);
    assert.match(examine, /^\s*Version : 1\.0$/m, `${file}: ${examine}`);
    assert.match(examine, /^\s*Raid Level : raid1$/m, `${file}: ${examine}`);
    assert.match(examine, /^\s*Name : \S*:?esp\b/m, `${file}: ${examine}`);
  } finally {
    await tool("losetup", ["--detach", loop]);
  }
}

Deno.test({
  name: "image.install_bootloader on a RAID 1 root builds the RAIDed ESP on every holder (VM)",
  ignore: !(await qemuInstalled()),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ramdisk = await ensureRamdisk();
    const dir = await Deno.makeTempDir({ prefix: "ipa-raid-esp-vm-" });
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const serialLog = `${ARTIFACTS}/raid_esp_vm_serial.log`;
    await Deno.writeTextFile(serialLog, "");
    const disks = await createDiskFiles(dir, 2, 2);
    const image = await buildEspImage(dir);
    const digest = await sha256Hex(await Deno.readFile(image));
    await using server = startImageServer({ "/esp-image.img": { body: { path: image } } });
    const port = new URL(server.origin).port;
    const token = crypto.randomUUID().replaceAll("-", "");
    const vm = await startStandaloneVm(ramdisk, disks, serialLog, token);
    let ok = false;
    let second: VmProcess | null = null;
    try {
      await waitForAgent(vm);
      const agent = new AgentClient(vm, token);
      // A UEFI node: create_configuration leaves 551 MiB in front of the RAID partitions.
      const node = {
        uuid: "raid-esp-vm-node",
        properties: { capabilities: "boot_mode:uefi" },
        target_raid_config: software([
          { size_gb: "MAX", raid_level: "1", volume_name: "root", is_root_volume: true },
        ]),
      };
      await agent.run("clean.execute_clean_step", {
        step: { interface: "raid", step: "create_configuration", priority: 0, args: {} },
        node,
        ports: [],
      });
      const written = await agent.run("standby.prepare_image", {
        image_info: {
          id: "esp-image.img",
          urls: [`http://${HOST_FROM_GUEST}:${port}/esp-image.img`],
          disk_format: "raw",
          container_format: "bare",
          stream_raw_images: true,
          os_hash_algo: "sha256",
          os_hash_value: digest,
        },
      });
      assert.match(String(written.result), /written to device \/dev\/md0/);
      // The guest booted BIOS: the ESP is built for the instance, NVRAM entries are only logged.
      const params = {
        root_uuid: null,
        efi_system_part_uuid: IMAGE_ESP_UUID,
        target_boot_mode: "uefi",
      };
      await agent.run("image.install_bootloader", params);
      // A second call reuses the RAIDed ESP (no third partition, no second array).
      await agent.run("image.install_bootloader", params);
      const state = await agent.state(dir);
      const byName = new Map(
        [...state.details.values()].map(({ detail }) => [detail.name, detail]),
      );
      assert.deepEqual([...byName.keys()].sort(), ["esp", "root"], state.mdstat);
      assert.equal(byName.get("esp")!.level, "raid1");
      assert.deepEqual(byName.get("esp")!.components, ["/dev/vda2", "/dev/vdb2"]);
      const serial = await Deno.readTextFile(serialLog);
      for (const i of [0, 1]) assert.match(serial, new RegExp(`\\(RAID, part${i}\\)`));

      await powerOff(vm, token);
      for (const [i, disk] of disks.entries()) await assertHolderEsp(disk, i);

      // Second boot on the same disks: the arrays are assembled at start-up (the generic
      // manager's initialize(), or udev's incremental assembly before it).
      await Deno.writeTextFile(serialLog, "");
      second = await startStandaloneVm(ramdisk, disks, serialLog, token);
      await waitForAgent(second);
      const rebooted = await new AgentClient(second, token).state(dir);
      const names = [...rebooted.details.values()].map(({ detail }) => detail.name).sort();
      assert.deepEqual(names, ["esp", "root"], `after reboot; mdstat:\n${rebooted.mdstat}`);
      const assembly =
        /(Software RAID arrays assembled|No new software RAID devices assembled) during start-up/
          .exec(await Deno.readTextFile(serialLog));
      assert.ok(assembly, "the agent ran mdadm --assemble --scan at start-up");
      printDiagnostics(`raid ESP VM: second boot: ${assembly[0]}`);
      ok = true;
    } finally {
      if (!ok) await printTails([{ label: "VM serial console", path: serialLog }], 200);
      await vm.stop();
      await second?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
