/**
 * Inspection against a local `Deno.serve` that answers as ironic-inspector's `/v1/continue`
 * does (spec 06 §7): 200 `{"uuid"}`, 4xx `{"error": {"message"}}`, and transient 5xx/409.
 */
import assert from "node:assert/strict";
import { fakeRunner } from "../erase/_test_runner.ts";
import { Logger } from "../log.ts";
import { device } from "../hints/_test_devices.ts";
import { runCollectors } from "./collectors.ts";
import { inspect } from "./inspect.ts";
import { postInspectionData, retryDelayMs } from "./post.ts";

const GiB = 2 ** 30;
const NODE = "1d4a7c1e-7a3b-4a51-8c2f-2f9a8b4e6d10";
const log = new Logger({ test: "inspection" });
const inventory = {
  interfaces: [{ name: "eth0", mac_address: "52:54:00:12:34:56" }],
  boot: { current_boot_mode: "bios", pxe_interface: "52:54:00:12:34:56" },
};
const managers = {
  // deno-lint-ignore no-explicit-any
  dispatch: ((name: string): Promise<any> => {
    if (name === "listHardwareInfo") return Promise.resolve(inventory);
    if (name === "listBlockDevices") {
      return Promise.resolve([
        device("/dev/sdb", { size: 8 * GiB }),
        device("/dev/sda", { size: 2 * GiB }),
      ]);
    }
    return Promise.reject(new Error(`unexpected dispatch ${name}`));
  }) as never,
  versions: () => ({ generic_hardware_manager: "1.2" }),
};

/** A scripted inspector: answers `replies` in turn, records every request. */
function inspector(replies: (() => Response)[]) {
  const requests: { body: Record<string, unknown>; headers: Headers }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    requests.push({ body: await req.json(), headers: req.headers });
    const reply = replies[Math.min(requests.length - 1, replies.length - 1)]!;
    return reply();
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/v1/continue`,
    requests,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

const ok = () => Response.json({ uuid: NODE });
const notInspecting = () =>
  Response.json({ error: { message: "Node is not being inspected" } }, { status: 400 });
const busy = () => Response.json({ error: { message: "Node locked" } }, { status: 409 });
const broken = () => new Response("oops", { status: 503 });

function options(urls: string[], collectors = "default,pci-devices", delays: number[] = []) {
  return {
    urls,
    collectors,
    runner: fakeRunner((_l, cmd) =>
      cmd === "find" ? "0000:00:00.0\n" : cmd === "grep" ? "" : undefined
    ),
    log,
    managers,
    post: {
      timeoutMs: 5_000,
      sleep: (ms: number) => {
        delays.push(ms);
        return Promise.resolve();
      },
    },
  };
}

Deno.test("inspect() POSTs the collected data and returns the node UUID", async () => {
  await using server = inspector([ok]);
  assert.equal(await inspect(options([server.url])), NODE);
  assert.equal(server.requests.length, 1);
  const { body, headers } = server.requests[0]!;
  assert.deepEqual(body.inventory, inventory);
  assert.equal((body.root_disk as { name: string }).name, "/dev/sdb", "smallest disk ≥ 4 GiB");
  assert.equal(body.boot_interface, "52:54:00:12:34:56");
  assert.deepEqual(body.configuration, {
    collectors: ["default", "pci-devices"],
    managers: [{ name: "generic_hardware_manager", version: "1.2" }],
  });
  assert.equal((body.pci_devices as unknown[]).length, 1);
  assert.equal(body.error, null);
  assert.equal(headers.get("content-type"), "application/json");
  assert.equal(headers.get("x-openstack-ironic-api-version"), null, "no microversion header");
});

Deno.test("inspect() retries 5xx, 409 and unreachable URLs with the IPA back-off", async () => {
  await using server = inspector([broken, busy, ok]);
  const delays: number[] = [];
  // A closed port first: every attempt moves on to the next URL.
  const uuid = await inspect(
    options(["http://127.0.0.1:9/v1/continue", server.url], "default", delays),
  );
  assert.equal(uuid, NODE);
  assert.equal(server.requests.length, 3);
  assert.deepEqual(delays, [5000, 5000]);
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(retryDelayMs), [5000, 5000, 6000, 12000, 24000, 30000]);
});

Deno.test("inspect() gives up on a 4xx at once and returns null", async () => {
  await using server = inspector([notInspecting, ok]);
  const delays: number[] = [];
  assert.equal(await inspect(options([server.url], "default", delays)), null);
  assert.equal(server.requests.length, 1);
  assert.deepEqual(delays, []);
});

Deno.test("postInspectionData() stops after 5 attempts and names the last answer", async () => {
  await using server = inspector([broken]);
  const delays: number[] = [];
  const result = await postInspectionData([server.url], {}, {
    log,
    timeoutMs: 5_000,
    sleep: (ms) => {
      delays.push(ms);
      return Promise.resolve();
    },
  });
  assert.equal(server.requests.length, 5);
  assert.deepEqual(delays, [5000, 5000, 6000, 12000]);
  assert.deepEqual(result, {
    ok: false,
    reason: `inspector ${server.url} answered HTTP 503: oops`,
  });
});

Deno.test("inspect() still POSTs when a collector fails, then returns null", async () => {
  await using server = inspector([ok]);
  assert.equal(await inspect(options([server.url], "default,frobnicate")), null);
  const body = server.requests[0]!.body;
  assert.ok(body.inventory, "the working collector's data is sent");
  assert.match(
    body.error as string,
    /^The following errors were encountered:\n\* Unknown inspection collector "frobnicate"/,
  );
});

Deno.test("runCollectors() runs logs last whatever its position", async () => {
  const order: string[] = [];
  const record = (name: string) => (_d: Record<string, unknown>) => {
    order.push(name);
    return Promise.resolve();
  };
  const ctx = { ...options([]), names: ["logs", "default", "pci-devices"] };
  await runCollectors(ctx, {
    logs: record("logs"),
    default: record("default"),
    "pci-devices": record("pci-devices"),
  });
  assert.deepEqual(order, ["default", "pci-devices", "logs"]);
});
