/**
 * Acceptance test for automatic TLS and token secrecy (issue #7): a real Ironic conductor (21.4
 * with API 1.82 and 29, both offer auto-TLS) cleans and deploys a node through the agent, which
 * serves HTTPS with a self-signed certificate and sends it as `agent_verify_ca`. The test checks:
 *
 * - the conductor stored an `https://` callback URL and pinned the certificate (the file in
 *   `[agent]certificates_path`), and every command still succeeded, so it talked HTTPS to the
 *   agent while verifying against that certificate;
 * - the certificate's fields, with `openssl x509`;
 * - no agent token Ironic issued during the run (read from Ironic's database while the agent
 *   runs) appears in any agent log.
 *
 *   deno test -A --no-prompt tests/e2e/auto_tls_flow_test.ts
 */

import assert from "node:assert/strict";
import { createLoopDevice, readBacking } from "../harness/loop.ts";
import { startImageServer } from "../harness/image_server.ts";
import { type IronicInstance, startIronic } from "../harness/ironic.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  physicalMac,
  sha256Hex,
} from "../harness/flow_fixtures.ts";
import { type PowerWatcher, watchPower } from "../harness/power_watcher.ts";
import { printDiagnostics, printTails } from "../harness/process_util.ts";

const MiB = 1024 * 1024;
const IMAGE_SIZE = 4 * MiB;

/** An MBR (disk identifier 0, one partition) followed by random bytes. */
function buildImage(): Uint8Array<ArrayBuffer> {
  const image = new Uint8Array(IMAGE_SIZE);
  const view = new DataView(image.buffer);
  image.set([0x00, 0xfe, 0xff, 0xff, 0x83, 0xfe, 0xff, 0xff], 446);
  view.setUint32(446 + 8, MiB / 512, true);
  view.setUint32(446 + 12, (IMAGE_SIZE - MiB) / 512, true);
  image[510] = 0x55;
  image[511] = 0xaa;
  for (let offset = MiB; offset < IMAGE_SIZE; offset += 65536) {
    crypto.getRandomValues(image.subarray(offset, offset + 65536));
  }
  return image;
}

async function output(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/**
 * Polls Ironic's database (the API masks the token) and its API for what the conductor holds
 * about the agent: every clear-text token and every callback URL, until stopped.
 */
function watchSecrets(ironic: IronicInstance, nodeUuid: string) {
  const tokens = new Set<string>();
  const agentUrls = new Set<string>();
  const stop = new AbortController();
  const query = "import sqlite3,sys;c=sqlite3.connect(sys.argv[1],timeout=5);" +
    "print('\\n'.join(r[0] or '' for r in c.execute('select driver_internal_info from nodes')))";
  const loop = (async () => {
    for (let i = 0; i < 2000 && !stop.signal.aborted; i++) {
      try {
        const rows = await output("python3", ["-c", query, `${ironic.stateDir}/ironic.sqlite`]);
        for (const line of rows.split("\n").filter(Boolean)) {
          const token = JSON.parse(line).agent_secret_token;
          if (typeof token === "string" && token !== "******") tokens.add(token);
        }
        const node = await ironic.client.getNode(nodeUuid);
        const url = node.driver_internal_info.agent_url;
        if (typeof url === "string") agentUrls.add(url);
      } catch {
        // The database may be locked for a moment; the next round reads it.
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return {
    tokens,
    agentUrls,
    async stop() {
      stop.abort();
      await loop;
    },
  };
}

for (const release of e2eReleases()) {
  Deno.test({
    name: `${conductorLabel(release)} cleans and deploys through the agent over automatic TLS; ` +
      "no token in logs",
    ignore: cannotRunE2e(),
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "auto-tls-flow-" });
      const image = buildImage();
      await Deno.writeFile(`${dir}/disk.img`, image);
      let watcher: PowerWatcher | null = null;
      let ironicRef: IronicInstance | null = null;
      try {
        await using images = startImageServer({
          "/disk.img": { body: { path: `${dir}/disk.img` } },
        });
        await using ironic = await startIronic({ release, httpUrl: images.origin });
        ironicRef = ironic;
        await using disk = await createLoopDevice({ sizeMiB: 64 });
        const client = ironic.client;
        // Every field in the POST: Ironic 29 breaks a node on any PATCH (see the recipe).
        const node = await client.createNode({
          name: "tls-node",
          driver: "fake-hardware",
          deploy_interface: "direct",
          properties: {
            cpus: 1,
            memory_mb: 2048,
            local_gb: 1,
            cpu_arch: "x86_64",
            root_device: { name: disk.path },
          },
          instance_info: {
            image_source: images.url("/disk.img"),
            image_os_hash_algo: "sha256",
            image_os_hash_value: await sha256Hex(image),
            root_gb: 1,
          },
        });
        await client.createPort(node.uuid, await physicalMac());
        const secrets = watchSecrets(ironic, node.uuid);
        await using watching = watchPower(client, node.uuid, {
          agent: { apiUrl: ironic.url, blockDevices: [disk.path], autoTls: true },
          logDir: dir,
          maxBoots: 4,
        });
        watcher = watching;

        await client.setProvisionState(node.uuid, "manage");
        await client.waitForProvisionState(node.uuid, "manageable", {
          timeoutMs: 30_000,
          signal: watching.signal,
        });
        await client.setProvisionState(node.uuid, "provide");
        await client.waitForProvisionState(node.uuid, "available", {
          timeoutMs: 180_000,
          signal: watching.signal,
        });
        await watching.settled();

        await client.setProvisionState(node.uuid, "active");
        const deployed = await client.waitForProvisionState(node.uuid, "active", {
          timeoutMs: 180_000,
          signal: watching.signal,
        });
        await watching.settled();
        await secrets.stop();
        assert.equal(deployed.last_error, null);
        assert.equal(watching.boots, 2, "one boot for cleaning, one for the deployment");
        assert.deepEqual(watching.problems, []);
        await new Deno.Command("blockdev", { args: ["--flushbufs", disk.path] }).output();
        const written = await readBacking(disk, 0, image.length);
        assert.ok(written.every((b, i) => b === image[i]), "the loop device holds the image");

        // The conductor called back over HTTPS ...
        assert.ok(secrets.agentUrls.size >= 1, "saw the callback URL Ironic stored");
        for (const url of secrets.agentUrls) assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
        // ... verifying against the certificate it pinned from agent_verify_ca.
        const pinned = `${ironic.stateDir}/certificates/${node.uuid}.crt`;
        const text = await output("openssl", ["x509", "-in", pinned, "-noout", "-text"]);
        assert.match(text, /Signature Algorithm: ecdsa-with-SHA512/);
        assert.match(text, /NIST CURVE: P-384/);
        assert.match(text, /X509v3 Subject Alternative Name: critical\s+IP Address:127\.0\.0\.1\s/);
        const dates = await output("openssl", ["x509", "-in", pinned, "-noout", "-dates"]);
        const notBefore = Date.parse(/notBefore=(.*)/.exec(dates)![1]!);
        const notAfter = Date.parse(/notAfter=(.*)/.exec(dates)![1]!);
        assert.equal(notAfter - notBefore, (90 * 86400 + 3600) * 1000, "90 days plus the skew");
        assert.ok(notBefore < Date.now() - 3000 * 1000, "back-dated by the allowed clock skew");
        const agentLogs = await Promise.all(
          watching.agents.map((a) => Deno.readTextFile(a.logFile)),
        );
        assert.ok(agentLogs.every((l) => /agent API listening .*protocol=https/.test(l)));
        assert.ok(
          agentLogs.some((l) => /api request .*method=POST .*status=200/.test(l)),
          "the conductor's commands reached the HTTPS server",
        );

        // Token secrecy: every token Ironic issued, absent from every agent log.
        assert.ok(secrets.tokens.size >= 2, `a token per boot, saw ${secrets.tokens.size}`);
        for (const token of secrets.tokens) {
          for (const [i, log] of agentLogs.entries()) {
            assert.ok(!log.includes(token), `agent log #${i + 1} contains the agent token`);
          }
        }
        printDiagnostics(
          `\n===== auto-TLS flow: ${secrets.tokens.size} tokens checked against ` +
            `${agentLogs.length} agent logs (${agentLogs.reduce((n, l) => n + l.length, 0)} bytes)`,
        );
        await watching.stop();
      } catch (err) {
        if (watcher) printDiagnostics(watcher.events.join("\n"));
        if (ironicRef) await printTails([{ label: "ironic", path: ironicRef.logFile }], 120);
        for (const agent of watcher?.agents ?? []) {
          await printTails([{ label: "agent", path: agent.logFile }], 80);
        }
        throw err;
      } finally {
        if (Deno.env.get("IRONIC_E2E_KEEP") !== "1") await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
