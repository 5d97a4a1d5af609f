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
import type { IronicInstance } from "../harness/ironic.ts";
import {
  cannotRunE2e,
  conductorLabel,
  e2eReleases,
  enrollNode,
  readDisk,
  transition,
  watchNode,
  withFlow,
} from "../harness/flow_fixtures.ts";
import { printDiagnostics, tool } from "../harness/process_util.ts";

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
        const rows = await tool("python3", ["-c", query, `${ironic.stateDir}/ironic.sqlite`]);
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
      await withFlow(release, {}, async (flow) => {
        const { disk, image, ironic } = flow;
        const node = await enrollNode(flow);
        const secrets = watchSecrets(ironic, node.uuid);
        await using watching = watchNode(flow, node, { maxBoots: 4, autoTls: true });

        await transition(flow, watching, node, "manage", "manage", "manageable");
        await transition(flow, watching, node, "provide", "provide", "available");
        await watching.settled();

        const deployed = await transition(flow, watching, node, "deploy", "active", "active");
        await watching.settled();
        await secrets.stop();
        assert.equal(deployed.last_error, null);
        assert.equal(watching.boots, 2, "one boot for cleaning, one for the deployment");
        assert.deepEqual(watching.problems, []);
        const written = await readDisk(disk, image.length);
        assert.ok(written.every((b, i) => b === image[i]), "the loop device holds the image");

        // The conductor called back over HTTPS ...
        assert.ok(secrets.agentUrls.size >= 1, "saw the callback URL Ironic stored");
        for (const url of secrets.agentUrls) assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
        // ... verifying against the certificate it pinned from agent_verify_ca.
        const pinned = `${ironic.stateDir}/certificates/${node.uuid}.crt`;
        const text = await tool("openssl", ["x509", "-in", pinned, "-noout", "-text"]);
        assert.match(text, /Signature Algorithm: ecdsa-with-SHA512/);
        assert.match(text, /NIST CURVE: P-384/);
        assert.match(text, /X509v3 Subject Alternative Name: critical\s+IP Address:127\.0\.0\.1\s/);
        const dates = await tool("openssl", ["x509", "-in", pinned, "-noout", "-dates"]);
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
      });
    },
  });
}
