import assert from "node:assert/strict";
import { generateCertificateKeys, generateSelfSignedCertificate } from "./self_signed.ts";

const hasOpenssl = await new Deno.Command("openssl", { args: ["version"], stdout: "null" })
  .output().then((o) => o.success, () => false);

async function openssl(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}

Deno.test("generateSelfSignedCertificate() uses a key pair generated ahead", async () => {
  const keys = generateCertificateKeys("p256");
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", (await keys).privateKey));
  const cert = await generateSelfSignedCertificate({
    host: "192.0.2.7",
    commonName: "x",
    curve: "p256",
    keys,
  });
  const body = cert.keyPem.replace(/-----[A-Z ]+-----|\n/g, "");
  assert.deepEqual(Uint8Array.from(atob(body), (c) => c.charCodeAt(0)), pkcs8);
  await assert.rejects(() => generateCertificateKeys("p999" as "p256"), /unknown curve "p999"/);
});

Deno.test({
  name: "generateSelfSignedCertificate() makes the certificate spec 01 §8 describes (openssl x509)",
  ignore: !hasOpenssl,
  async fn(t) {
    const now = new Date("2026-11-25T10:00:00Z");
    for (
      const [curve, nist] of [["p256", "P-256"], ["p384", "P-384"], ["p521", "P-521"]] as const
    ) {
      await t.step(curve, async () => {
        const cert = await generateSelfSignedCertificate({
          host: "10.0.0.15",
          commonName: "ramdisk-host",
          curve,
          clockSkewSeconds: 3600,
          now,
        });
        const { code, out } = await openssl(["x509", "-noout", "-text"], cert.certPem);
        assert.equal(code, 0, out);
        assert.match(out, /Version: 3 \(0x2\)/);
        assert.match(out, /Signature Algorithm: ecdsa-with-SHA512/);
        assert.match(out, /Issuer: CN = ramdisk-host/);
        assert.match(out, /Subject: CN = ramdisk-host/);
        assert.match(out, new RegExp(`NIST CURVE: ${nist}`));
        assert.match(out, /Not Before: Nov 25 09:00:00 2026 GMT/, "back-dated by the skew");
        assert.match(out, /Not After : Feb 23 10:00:00 2027 GMT/, "90 days");
        assert.match(out, /Subject Alternative Name: critical\s+IP Address:10\.0\.0\.15\s/);
        // Self-signed: the signature verifies against its own key.
        const dir = await Deno.makeTempDir({ prefix: "tls-test-" });
        try {
          await Deno.writeTextFile(`${dir}/c.pem`, cert.certPem);
          const verify = await openssl(["verify", "-CAfile", `${dir}/c.pem`, `${dir}/c.pem`]);
          assert.equal(verify.code, 0, verify.out);
          const key = await openssl(["pkey", "-noout", "-text"], cert.keyPem);
          assert.equal(key.code, 0, key.out);
          assert.match(key.out, new RegExp(`NIST CURVE: ${nist}`));
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    }
  },
});

Deno.test("generateSelfSignedCertificate() uses a dNSName for a host name and a fresh key each time", async () => {
  const a = await generateSelfSignedCertificate({ host: "agent.example.net", commonName: "x" });
  const b = await generateSelfSignedCertificate({ host: "agent.example.net", commonName: "x" });
  assert.notEqual(a.keyPem, b.keyPem);
  assert.notEqual(a.certPem, b.certPem);
  assert.match(a.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  if (hasOpenssl) {
    const { out } = await openssl(["x509", "-noout", "-ext", "subjectAltName"], a.certPem);
    assert.match(out, /DNS:agent\.example\.net/);
  }
  await assert.rejects(
    () => generateSelfSignedCertificate({ host: "", commonName: "x" }),
    /the host is empty/,
  );
});

Deno.test({
  name: "Deno.serve with the generated certificate: TLS 1.2+ with AEAD only, verified by IP",
  ignore: !hasOpenssl,
  async fn(t) {
    const cert = await generateSelfSignedCertificate({ host: "127.0.0.1", commonName: "t" });
    const dir = await Deno.makeTempDir({ prefix: "tls-test-" });
    const stop = new AbortController();
    const server = Deno.serve({
      hostname: "127.0.0.1",
      port: 0,
      cert: cert.certPem,
      key: cert.keyPem,
      signal: stop.signal,
      onListen() {},
    }, () => new Response("ok"));
    try {
      await Deno.writeTextFile(`${dir}/ca.pem`, cert.certPem);
      const base = [
        "s_client",
        "-connect",
        `127.0.0.1:${server.addr.port}`,
        "-CAfile",
        `${dir}/ca.pem`,
        "-verify_return_error",
        "-brief",
      ];
      await t.step("TLS 1.3, pinned certificate, IP checked", async () => {
        const r = await openssl([...base, "-verify_ip", "127.0.0.1"], "");
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /Protocol version: TLSv1\.3/);
      });
      await t.step("another IP fails verification", async () => {
        const r = await openssl([...base, "-verify_ip", "127.0.0.2"], "");
        assert.notEqual(r.code, 0, r.out);
      });
      await t.step("TLS 1.2 with AES-GCM is accepted", async () => {
        const r = await openssl(
          [...base, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
          "",
        );
        assert.equal(r.code, 0, r.out);
      });
      await t.step("TLS 1.2 with a CBC (non-AEAD) cipher is refused", async () => {
        const r = await openssl([...base, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384"], "");
        assert.notEqual(r.code, 0, r.out);
      });
      await t.step("TLS 1.1 is refused", async () => {
        const r = await openssl([...base, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], "");
        assert.notEqual(r.code, 0, r.out);
      });
    } finally {
      stop.abort();
      await server.finished;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
