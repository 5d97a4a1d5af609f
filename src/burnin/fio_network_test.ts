import assert from "node:assert/strict";
import { CleaningError, CommandExecutionError } from "../api/errors.ts";
import { fakeRunner } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { burninNetwork, fioNetworkArgs } from "./fio_network.ts";
import { networkSettings, readSettings } from "./settings.ts";

const log = new Logger({ test: "fio_network" });
const settings = (driver_info: Record<string, unknown>) =>
  readSettings(networkSettings, { uuid: "n1", driver_info }, "burnin_network");

const COMMON = "fio --ioengine net --port 9000 --fill_device 1 --group_reporting --gtod_reduce 1 " +
  "--numjobs 16";

Deno.test("fioNetworkArgs() builds the writer and reader command lines of IPA", () => {
  assert.equal(
    ["fio", ...fioNetworkArgs({ role: "writer", runtime: 60, partner: "h2" })].join(" "),
    `${COMMON} --name writer --rw write --runtime 60 --time_based --listen`,
  );
  assert.equal(
    ["fio", ...fioNetworkArgs({ role: "reader", runtime: 60, partner: "h2", outputFile: "/o.r" })]
      .join(" "),
    `${COMMON} --name reader --rw read --hostname h2 --output-format json --output /o.r`,
  );
});

Deno.test("burninNetwork() runs the configured role, then swaps roles with per-role outputs", async () => {
  const runner = fakeRunner((_l, cmd) => (cmd === "fio" ? "ok" : undefined));
  await burninNetwork({
    runner,
    log,
    settings: settings({
      agent_burnin_fio_network_runtime: "30",
      agent_burnin_fio_network_outputfile: "/var/log/net",
      agent_burnin_fio_network_config: { role: "writer", partner: "10.0.0.2" },
    }),
  });
  assert.deepEqual(runner.calls, [
    `${COMMON} --name writer --rw write --runtime 30 --time_based --listen ` +
    "--output-format json --output /var/log/net.writer",
    `${COMMON} --name reader --rw read --hostname 10.0.0.2 ` +
    "--output-format json --output /var/log/net.reader",
  ]);
});

Deno.test("burninNetwork() retries a reader whose writer is not listening, within the pairing timeout", async () => {
  let clock = 0;
  let readerTries = 0;
  const runner = fakeRunner((_l, cmd, args) => {
    if (cmd !== "fio") return undefined;
    if (args.includes("reader") && ++readerTries < 3) {
      return { code: 16, stderr: "fio: connect: Connection refused" };
    }
    return "ok";
  });
  const sleeps: number[] = [];
  await burninNetwork({
    runner,
    log,
    settings: settings({ agent_burnin_fio_network_config: { role: "reader", partner: "h1" } }),
    now: () => clock,
    sleep: (ms) => {
      sleeps.push(ms);
      clock += ms;
      return Promise.resolve();
    },
  });
  assert.equal(readerTries, 3);
  assert.deepEqual(sleeps, [30_000, 30_000]);
  assert.match(
    runner.calls.at(-1)!,
    /--name writer --rw write --runtime 21600 --time_based --listen$/,
  );

  // A writer that never comes: the reader gives up at the pairing timeout, naming it.
  clock = 0;
  const never = fakeRunner((_l, cmd) =>
    cmd === "fio" ? { code: 16, stderr: "Connection refused" } : undefined
  );
  await assert.rejects(
    burninNetwork({
      runner: never,
      log,
      settings: settings({
        agent_burnin_fio_network_config: { role: "reader", partner: "h1" },
        agent_burnin_fio_network_pairing_timeout: 100,
      }),
      now: () => clock,
      sleep: (ms) => {
        clock += ms;
        return Promise.resolve();
      },
    }),
    (err: unknown) =>
      err instanceof CommandExecutionError &&
      /reader could not connect to writer h1 within agent_burnin_fio_network_pairing_timeout \(100 s, 4 attempts\)/
        .test(err.details),
  );
  assert.equal(never.calls.length, 4);
});

Deno.test("burninNetwork() fails a writer at once and never retries it", async () => {
  const runner = fakeRunner((_l, cmd) =>
    cmd === "fio" ? { code: 16, stderr: "bind: Address already in use" } : undefined
  );
  await assert.rejects(
    burninNetwork({
      runner,
      log,
      settings: settings({ agent_burnin_fio_network_config: { role: "writer", partner: "h" } }),
    }),
    (err: unknown) =>
      err instanceof CommandExecutionError && /Address already in use/.test(err.details),
  );
  assert.equal(runner.calls.length, 1);
});

Deno.test("burninNetwork() refuses dynamic pairing clearly and runs nothing", async () => {
  const runner = fakeRunner();
  await assert.rejects(
    burninNetwork({
      runner,
      log,
      settings: settings({ agent_burnin_fio_network_pairing_backend_url: "etcd3+http://c:2379" }),
    }),
    (err: unknown) =>
      err instanceof CleaningError &&
      /dynamic pairing through "etcd3\+http:\/\/c:2379" \(group "ironic.network-burnin"\) is not supported/
        .test(err.details) &&
      /agent_burnin_fio_network_config/.test(err.details),
  );
  await assert.rejects(
    burninNetwork({ runner, log, settings: settings({}) }),
    (err: unknown) =>
      err instanceof CleaningError &&
      /missing agent_burnin_fio_network_pairing_backend_url/.test(err.details),
  );
  assert.deepEqual(runner.calls, []);
});
