import assert from "node:assert/strict";
import { LookupAgentIPError } from "../api/errors.ts";
import { setSink } from "../log.ts";
import { type Runner, type RunResult, ToolError } from "../system/run.ts";
import { rejectsWith } from "./_test_assert.ts";
import { FakeClock } from "./_test_clock.ts";
import {
  type AdvertiseOptions,
  findAdvertiseHost,
  formatCallbackUrl,
  isLinkLocal,
  parseRouteSource,
} from "./advertise.ts";

// Recorded `ip` outputs (iproute2 6.x).
const ROUTE_V4 = "10.0.0.2 dev eno1 src 10.0.0.15 uid 0 \n    cache \n";
const ROUTE_V4_VIA = "8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \n    cache \n";
const ROUTE_LOCAL = "local 127.0.0.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n";
const ROUTE_V6 = "fd00::2 from :: dev eno1 proto kernel src fd00::15 metric 256 pref medium\n";
const ROUTE_V6_LINK_LOCAL =
  "fd00::2 from :: dev eno1 proto kernel src fe80::5054:ff:fe12:3456 metric 1024 pref medium\n";
const ROUTE_V4_LINK_LOCAL = "10.0.0.2 dev eno1 src 169.254.10.20 uid 0 \n    cache \n";
const ROUTE_NO_SRC = "unreachable 10.9.9.9 uid 0 \n    cache \n";
const IP_ADDR_ETH0 = JSON.stringify([{
  ifindex: 2,
  ifname: "eth0",
  flags: ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
  mtu: 1500,
  operstate: "UP",
  addr_info: [
    {
      family: "inet",
      local: "192.168.10.5",
      prefixlen: 24,
      scope: "global",
      label: "eth0",
    },
    { family: "inet", local: "192.168.11.5", prefixlen: 24, scope: "global", label: "eth0" },
  ],
}]);

type Answer = string | Error;

/** A runner replaying `answers[commandLine]` (a list is consumed in turn); records calls. */
function fakeRunner(answers: Record<string, Answer | Answer[]>): Runner & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run(cmd: string, args: readonly string[]): Promise<RunResult> {
      const line = [cmd, ...args].join(" ");
      calls.push(line);
      let answer = answers[line];
      if (Array.isArray(answer)) answer = answer.length > 1 ? answer.shift() : answer[0];
      if (answer === undefined) {
        answer = new ToolError(
          { command: line, exitCode: 2, stderr: "RTNETLINK answers: Network is unreachable" },
          "exited with code 2: RTNETLINK answers: Network is unreachable",
        );
      }
      if (answer instanceof Error) return Promise.reject(answer);
      return Promise.resolve({ code: 0, stdout: answer, stderr: "" });
    },
    pipe() {
      throw new Error("pipe() is not used here");
    },
  };
}

function unreachable(): ToolError {
  return new ToolError(
    { command: "ip route get", exitCode: 2, stderr: "RTNETLINK answers: Network is unreachable" },
    "exited with code 2",
  );
}

function options(
  runner: Runner,
  config: Partial<AdvertiseOptions["config"]>,
  extra: Partial<AdvertiseOptions> = {},
): AdvertiseOptions {
  return {
    runner,
    config: {
      advertiseHost: null,
      networkInterface: null,
      apiUrl: [],
      ipLookupAttempts: 6,
      ipLookupSleep: 10,
      ...config,
    },
    resolve: () => Promise.reject(new Error("resolver not expected")),
    clock: new FakeClock(),
    ...extra,
  };
}

async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const restore = setSink(() => {});
  try {
    return await fn();
  } finally {
    restore();
  }
}

Deno.test("formatCallbackUrl() brackets IPv6 hosts and adds no trailing slash", async (t) => {
  const cases: [string, "http" | "https", number, string][] = [
    ["10.0.0.15", "http", 9999, "http://10.0.0.15:9999"],
    ["fd00::15", "https", 9999, "https://[fd00::15]:9999"],
    ["[fd00::15]", "https", 443, "https://[fd00::15]:443"],
    ["agent.example.com", "http", 8080, "http://agent.example.com:8080"],
  ];
  for (const [host, protocol, port, expected] of cases) {
    await t.step(
      expected,
      () => assert.equal(formatCallbackUrl({ protocol, host, port }), expected),
    );
  }
});

Deno.test("parseRouteSource() takes the token after src on the first line", async (t) => {
  const cases: [string, string, string | null][] = [
    ["IPv4 direct", ROUTE_V4, "10.0.0.15"],
    ["IPv4 via gateway", ROUTE_V4_VIA, "192.0.2.2"],
    ["local", ROUTE_LOCAL, "127.0.0.1"],
    ["IPv6", ROUTE_V6, "fd00::15"],
    ["no src", ROUTE_NO_SRC, null],
    ["empty", "", null],
  ];
  for (const [name, output, expected] of cases) {
    await t.step(name, () => assert.equal(parseRouteSource(output), expected));
  }
});

Deno.test("isLinkLocal() recognises 169.254/16 and fe80::/10", () => {
  assert.equal(isLinkLocal("169.254.1.1"), true);
  assert.equal(isLinkLocal("fe80::1"), true);
  assert.equal(isLinkLocal("febf::1"), true);
  assert.equal(isLinkLocal("fe80::1%eth0"), true);
  assert.equal(isLinkLocal("10.0.0.15"), false);
  assert.equal(isLinkLocal("fec0::1"), false);
  assert.equal(isLinkLocal("fd00::15"), false);
});

Deno.test("findAdvertiseHost() uses advertise_host without running anything", async () => {
  const runner = fakeRunner({});
  const host = await findAdvertiseHost(
    options(runner, { advertiseHost: "10.1.1.1", networkInterface: "eth0", apiUrl: ["http://x"] }),
  );
  assert.equal(host, "10.1.1.1");
  assert.deepEqual(runner.calls, []);
});

Deno.test("findAdvertiseHost() uses the first IPv4 of network_interface", async () => {
  const runner = fakeRunner({ "ip -j -4 addr show dev eth0": IP_ADDR_ETH0 });
  const host = await findAdvertiseHost(
    options(runner, { networkInterface: "eth0", apiUrl: ["http://10.0.0.2:6385"] }),
  );
  assert.equal(host, "192.168.10.5");
  assert.deepEqual(runner.calls, ["ip -j -4 addr show dev eth0"]);
});

Deno.test("findAdvertiseHost() fails when network_interface has no IPv4", async () => {
  const runner = fakeRunner({ "ip -j -4 addr show dev eth1": "[]" });
  await rejectsWith(
    () => findAdvertiseHost(options(runner, { networkInterface: "eth1" })),
    LookupAgentIPError,
    /Agent could not find a valid IP address: network_interface "eth1" has no IPv4 address/,
  );
});

Deno.test("findAdvertiseHost() takes the route source to a literal API address", async (t) => {
  await t.step("IPv4", async () => {
    const runner = fakeRunner({ "ip route get 10.0.0.2": ROUTE_V4 });
    const host = await quietly(() =>
      findAdvertiseHost(options(runner, { apiUrl: ["https://10.0.0.2:6385"] }))
    );
    assert.equal(host, "10.0.0.15");
    assert.equal(
      formatCallbackUrl({ protocol: "https", host, port: 9999 }),
      "https://10.0.0.15:9999",
    );
  });
  await t.step("IPv6 in brackets", async () => {
    const runner = fakeRunner({ "ip route get fd00::2": ROUTE_V6 });
    const host = await quietly(() =>
      findAdvertiseHost(options(runner, { apiUrl: ["https://[fd00::2]:6385"] }))
    );
    assert.equal(host, "fd00::15");
    assert.deepEqual(runner.calls, ["ip route get fd00::2"]);
    assert.equal(
      formatCallbackUrl({ protocol: "https", host, port: 9999 }),
      "https://[fd00::15]:9999",
    );
  });
});

Deno.test("findAdvertiseHost() skips link-local sources", async () => {
  const runner = fakeRunner({
    "ip route get fd00::2": ROUTE_V6_LINK_LOCAL,
    "ip route get 10.0.0.2": ROUTE_V4_LINK_LOCAL,
    "ip route get 10.0.0.3": ROUTE_V4,
  });
  const host = await quietly(() =>
    findAdvertiseHost(
      options(runner, {
        apiUrl: ["https://[fd00::2]:6385", "https://10.0.0.2:6385", "http://10.0.0.3:6385/"],
      }),
    )
  );
  assert.equal(host, "10.0.0.15");
  assert.deepEqual(runner.calls, [
    "ip route get fd00::2",
    "ip route get 10.0.0.2",
    "ip route get 10.0.0.3",
  ]);
});

Deno.test("findAdvertiseHost() resolves host names and falls back to the literal name", async (t) => {
  await t.step("resolved to A and AAAA records", async () => {
    const runner = fakeRunner({ "ip route get fd00::2": ROUTE_V6 });
    const resolved: string[] = [];
    const host = await quietly(() =>
      findAdvertiseHost(options(runner, { apiUrl: ["https://ironic.example.com:6385"] }, {
        resolve: (name) => {
          resolved.push(name);
          return Promise.resolve(["10.0.0.2", "fd00::2"]);
        },
      }))
    );
    assert.deepEqual(resolved, ["ironic.example.com"]);
    assert.deepEqual(runner.calls, ["ip route get 10.0.0.2", "ip route get fd00::2"]);
    assert.equal(host, "fd00::15");
  });
  await t.step("resolution fails", async () => {
    const runner = fakeRunner({ "ip route get ironic": ROUTE_V4 });
    const host = await quietly(() =>
      findAdvertiseHost(options(runner, { apiUrl: ["http://ironic:6385"] }, {
        resolve: () => Promise.reject(new Error("NXDOMAIN")),
      }))
    );
    assert.equal(host, "10.0.0.15");
  });
});

Deno.test("findAdvertiseHost() retries rounds with ip_lookup_sleep between them", async () => {
  const runner = fakeRunner({ "ip route get 10.0.0.2": [unreachable(), ROUTE_NO_SRC, ROUTE_V4] });
  const clock = new FakeClock();
  const host = await quietly(() =>
    findAdvertiseHost(
      options(runner, { apiUrl: ["http://10.0.0.2:6385"], ipLookupSleep: 7 }, { clock }),
    )
  );
  assert.equal(host, "10.0.0.15");
  assert.equal(runner.calls.length, 3);
  assert.deepEqual(clock.sleeps, [7000, 7000]);
});

Deno.test("findAdvertiseHost() gives up after ip_lookup_attempts rounds", async () => {
  const runner = fakeRunner({});
  const clock = new FakeClock();
  await quietly(() =>
    rejectsWith(
      () =>
        findAdvertiseHost(
          options(runner, {
            apiUrl: ["http://10.0.0.2:6385", "http://10.0.0.3:6385"],
            ipLookupAttempts: 3,
          }, {
            clock,
          }),
        ),
      LookupAgentIPError,
      /Agent could not find a valid IP address: no route source to 10.0.0.2, 10.0.0.3 after 3 attempts/,
    )
  );
  assert.equal(runner.calls.length, 6);
  assert.deepEqual(clock.sleeps, [10_000, 10_000]);
});

Deno.test("findAdvertiseHost() uses only API URLs that answer when a probe is given", async (t) => {
  await t.step("one answers", async () => {
    const runner = fakeRunner({ "ip route get 10.0.0.3": ROUTE_V4 });
    const host = await quietly(() =>
      findAdvertiseHost(
        options(runner, { apiUrl: ["http://10.0.0.2:6385", "http://10.0.0.3:6385"] }, {
          isReachable: (url) => Promise.resolve(url.includes("10.0.0.3")),
        }),
      )
    );
    assert.equal(host, "10.0.0.15");
    assert.deepEqual(runner.calls, ["ip route get 10.0.0.3"]);
  });
  await t.step("none answers", async () => {
    const runner = fakeRunner({});
    await quietly(() =>
      rejectsWith(
        () =>
          findAdvertiseHost(options(runner, { apiUrl: ["http://10.0.0.2:6385"] }, {
            isReachable: () => Promise.resolve(false),
          })),
        LookupAgentIPError,
        /Agent could not find a valid IP address: no usable Ironic API host/,
      )
    );
    assert.deepEqual(runner.calls, []);
  });
});
