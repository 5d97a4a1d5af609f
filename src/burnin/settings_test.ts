import assert from "node:assert/strict";
import { InvalidCommandParamsError } from "../api/errors.ts";
import {
  cpuSettings,
  diskSettings,
  memorySettings,
  networkSettings,
  readSettings,
} from "./settings.ts";

const node = (driver_info: Record<string, unknown>) => ({ uuid: "n1", driver_info });

Deno.test("readSettings() applies the spec 04 §10 defaults when driver_info is empty", () => {
  assert.deepEqual(readSettings(cpuSettings, { uuid: "n1" }, "burnin_cpu"), {
    agent_burnin_cpu_cpu: 0,
    agent_burnin_cpu_timeout: { text: "86400", seconds: 86400 },
  });
  assert.deepEqual(readSettings(memorySettings, node({}), "burnin_memory"), {
    agent_burnin_vm_vm: 0,
    "agent_burnin_vm_vm-bytes": "98%",
    agent_burnin_vm_timeout: { text: "86400", seconds: 86400 },
  });
  assert.deepEqual(readSettings(diskSettings, node({}), "burnin_disk"), {
    agent_burnin_fio_disk_loops: 4,
    agent_burnin_fio_disk_runtime: 0,
    agent_burnin_fio_disk_smart_test: false,
  });
  const network = readSettings(networkSettings, node({}), "burnin_network");
  assert.equal(network.agent_burnin_fio_network_runtime, 21600);
  assert.equal(network.agent_burnin_fio_network_pairing_group_name, "ironic.network-burnin");
  assert.equal(network.agent_burnin_fio_network_pairing_timeout, 900);
  assert.equal(network.agent_burnin_fio_network_config, undefined);
});

Deno.test("readSettings() accepts the string forms the baremetal CLI stores", () => {
  const cpu = readSettings(
    cpuSettings,
    node({ agent_burnin_cpu_cpu: "2", agent_burnin_cpu_timeout: "10m", unrelated: "x" }),
    "burnin_cpu",
  );
  assert.equal(cpu.agent_burnin_cpu_cpu, 2);
  assert.deepEqual(cpu.agent_burnin_cpu_timeout, { text: "10m", seconds: 600 });
  const disk = readSettings(
    diskSettings,
    node({ agent_burnin_fio_disk_loops: "1", agent_burnin_fio_disk_smart_test: "True" }),
    "burnin_disk",
  );
  assert.equal(disk.agent_burnin_fio_disk_loops, 1);
  assert.equal(disk.agent_burnin_fio_disk_smart_test, true);
  const network = readSettings(
    networkSettings,
    node({ agent_burnin_fio_network_config: '{"role": "reader", "partner": "10.0.0.2"}' }),
    "burnin_network",
  );
  assert.deepEqual(network.agent_burnin_fio_network_config, {
    role: "reader",
    partner: "10.0.0.2",
  });
});

Deno.test("readSettings() names the key and the value it refuses", async (t) => {
  const cases: [string, Parameters<typeof readSettings>[0], Record<string, unknown>, RegExp][] = [
    ["negative count", cpuSettings, { agent_burnin_cpu_cpu: -1 }, /"agent_burnin_cpu_cpu".*-1/],
    [
      "non-numeric timeout",
      cpuSettings,
      { agent_burnin_cpu_timeout: "abc" },
      /"agent_burnin_cpu_timeout" has the invalid value "abc"/,
    ],
    [
      "zero timeout (stress-ng would run forever)",
      memorySettings,
      { agent_burnin_vm_timeout: 0 },
      /"agent_burnin_vm_timeout" has the invalid value 0: expected a duration of at least 1/,
    ],
    [
      "vm-bytes with shell characters",
      memorySettings,
      { "agent_burnin_vm_vm-bytes": "98%; reboot" },
      /"agent_burnin_vm_vm-bytes" has the invalid value "98%; reboot"/,
    ],
    [
      "zero loops",
      diskSettings,
      { agent_burnin_fio_disk_loops: "0" },
      /"agent_burnin_fio_disk_loops" has the invalid value "0"/,
    ],
    [
      "smart_test not a boolean",
      diskSettings,
      { agent_burnin_fio_disk_smart_test: "yes please" },
      /"agent_burnin_fio_disk_smart_test" has the invalid value "yes please"/,
    ],
    [
      "unknown network role",
      networkSettings,
      { agent_burnin_fio_network_config: { role: "sender", partner: "h" } },
      /"agent_burnin_fio_network_config.role" has the invalid value \{"role":"sender"/,
    ],
  ];
  for (const [name, schema, info, pattern] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => readSettings(schema, node(info), "burnin_x"),
        (err: unknown) =>
          err instanceof InvalidCommandParamsError && /^Cannot run burnin_x: /.test(err.details) &&
          pattern.test(err.details),
      );
    });
  }
});
