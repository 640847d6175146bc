import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import { issueCertificate, type KeyAndCert } from "../../src/pki/certs";
import { runCli, startForeground, type RunningRelay } from "../helpers/cli";
import { readAll, sha256 } from "../helpers/streams";
import { PYTHON, PYTHON_REQUIRED, SKIP_WITHOUT_PYTHON, pairProbeWithCli } from "../helpers/python";

/** Go writes RSA keys as PKCS#1 ("RSA PRIVATE KEY"); so does this stand-in for fr-adm. */
function write(dir: string, name: string, k: KeyAndCert, keyName = "key.pem"): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), k.certPem);
  const pkcs1 = crypto.createPrivateKey(k.keyPem).export({ type: "pkcs1", format: "pem" }) as string;
  fs.writeFileSync(path.join(dir, keyName), pkcs1, { mode: 0o600 });
}

/**
 * A certs folder laid out exactly as Flock's fr-adm writes it: relay CA named `flockrelay`, the
 * relay certificate `flockrelay`, party relay certificates named by the bare party, and per user
 * a user CA and the parties' end-to-end certificates. user1 has parties 0 and 1, user2 only 2.
 */
function frAdmTree(certs: string): void {
  const ca = issueCertificate({ commonName: "flockrelay", usage: "ca", days: 30, bits: 2048 });
  fs.mkdirSync(certs, { recursive: true });
  fs.writeFileSync(path.join(certs, "flockrelay-ca.pem"), ca.certPem);
  fs.writeFileSync(path.join(certs, "flockrelay-key.pem"), ca.keyPem, { mode: 0o600 });
  write(path.join(certs, "flockrelay"), "cert.pem", issueCertificate({ commonName: "flockrelay", usage: "server", days: 30, bits: 2048, altNames: ["flockrelay"], issuer: ca }));
  for (const [user, parties] of [["user1", ["0", "1"]], ["user2", ["2"]]] as const) {
    const userCa = issueCertificate({ commonName: user, usage: "ca", days: 30, bits: 2048 });
    write(path.join(certs, user), "user-ca.pem", userCa, "user-key.pem");
    for (const p of parties) {
      write(path.join(certs, p), "cert.pem", issueCertificate({ commonName: p, usage: "client", days: 30, bits: 2048, altNames: [p], issuer: ca }));
      write(path.join(certs, user, p), "cert.pem", issueCertificate({ commonName: p, usage: "peer", days: 30, bits: 2048, altNames: [p], issuer: userCa }));
    }
  }
}

/** The settings a Flock party has, as file paths: nothing from frelay. */
function flockEnv(certs: string, relay: string, party: string, user: string, dest: string): Record<string, string> {
  return {
    RELAY: relay,
    RELAY_CA: path.join(certs, "flockrelay-ca.pem"),
    RELAY_CERT: path.join(certs, party, "cert.pem"),
    RELAY_KEY: path.join(certs, party, "key.pem"),
    USER_CA: path.join(certs, user, "user-ca.pem"),
    PARTY_CERT: path.join(certs, user, party, "cert.pem"),
    PARTY_KEY: path.join(certs, user, party, "key.pem"),
    DEST: dest,
  };
}

describe("frelay init --from-flock: a Flock relay's certificates, adopted as they are", () => {
  let dir: string;
  let certs: string;
  let configFile: string;
  let relay: RunningRelay | undefined;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-flock-"));
    certs = path.join(dir, "certs");
    configFile = path.join(dir, "config.json");
    frAdmTree(certs);
  });
  after(async () => {
    await relay?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("writes config.json pointing at the tree, with routes between each user's parties", { timeout: 60_000 }, async (t) => {
    const r = await runCli(["init", "--from-flock", certs, "-c", configFile]);
    assert.equal(r.code, 0, r.stderr);
    for (const line of r.stdout.trimEnd().split("\n")) t.diagnostic(line); // what an operator sees
    assert.match(r.stdout, /parties: 0, 1, 2/);
    assert.match(r.stdout, /route 0 <-> 1/);
    const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as { tls: Record<string, string>; routes: { between: string[] }[] };
    assert.deepEqual(config.tls, { ca: "certs/flockrelay-ca.pem", cert: "certs/flockrelay/cert.pem", key: "certs/flockrelay/key.pem" });
    assert.deepEqual(config.routes, [{ between: ["0", "1"] }], "user2's lone party gets no route");
    const again = await runCli(["init", "--from-flock", certs, "-c", configFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists \(use --force to replace it\)/);
  });

  it("the relay then pairs Flock parties (DEST=1) with their own certificates; frelay connect verifies the name flockrelay", { timeout: 90_000 }, async () => {
    // What the operator does next: put the relay on its port (here: any free one).
    const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as Record<string, unknown>;
    fs.writeFileSync(configFile, JSON.stringify({ ...config, address: "127.0.0.1:0", metrics: undefined }));
    assert.equal((await runCli(["check", "-c", configFile])).code, 0);
    relay = await startForeground(configFile);
    const input = crypto.randomBytes(100_000);
    const sender = runCli(["connect"], { env: flockEnv(certs, relay.address, "0", "user1", "1"), input, timeoutMs: 60_000 });
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "0");
    const e = flockEnv(certs, relay.address, "1", "user1", "0");
    const read = (k: string) => fs.readFileSync(e[k] as string, "utf8");
    const peer = await connect({
      relay: relay.address,
      relayCa: read("RELAY_CA"),
      relayCert: read("RELAY_CERT"),
      relayKey: read("RELAY_KEY"),
      userCa: read("USER_CA"),
      partyCert: read("PARTY_CERT"),
      partyKey: read("PARTY_KEY"),
      dest: "0",
      tag: "",
      timeoutMs: 30_000,
    });
    // This party sends nothing: it ends its side at once, while the sender's stdin is still on
    // its way (on Node 20/22 that once lost the last 16 KiB: see client/tls-carrier.ts).
    const got = readAll(peer.socket);
    peer.socket.end();
    assert.equal(sha256(await got), sha256(input));
    const s = await sender;
    assert.equal(s.code, 0, s.stderr);
    // Parties of different users have no route.
    const other = await runCli(["connect"], { env: flockEnv(certs, relay.address, "2", "user2", "0"), timeoutMs: 30_000 });
    assert.equal(other.code, 1);
    assert.match(other.stderr, /relay refused \(403\): no route between 2 and 0/);
  });

  for (const pythonWaits of [true, false]) {
    it(`a Python party (clients/python) with its fr-adm certificates pairs with frelay connect, as ${pythonWaits ? "waiter (Mode 2)" : "late arrival (Mode 1)"}`, { timeout: 90_000, skip: SKIP_WITHOUT_PYTHON }, async () => {
      assert.ok(relay);
      assert.ok(PYTHON, PYTHON_REQUIRED);
      // Flock's function images run Python handlers: the settings are the fr-adm files as they
      // lie (PKCS#1 keys, one-label names, a relay certificate named only flockrelay).
      const fromPython = crypto.randomBytes(200_003);
      const fromCli = crypto.randomBytes(100_001);
      const { report, cliStdout } = await pairProbeWithCli(relay, {
        pythonWaits,
        python: { identity: "1", env: flockEnv(certs, relay.address, "1", "user1", "0"), input: fromPython },
        cli: { identity: "0", env: flockEnv(certs, relay.address, "0", "user1", "1"), input: fromCli },
      });
      assert.equal(report["mode"], pythonWaits ? 2 : 1);
      assert.equal(report["peer"], "0", "the peer verified by its one-label name");
      assert.equal(report["received_sha256"], sha256(fromCli));
      assert.equal(sha256(cliStdout), sha256(fromPython));
    });
  }

  it("frelay connect refuses a relay certificate that names neither flockrelay nor frelay, unless told its name", { timeout: 60_000 }, async () => {
    assert.ok(relay);
    const r = await runCli(["connect", "--relay-name", "relay.example.com", "--timeout", "10"], { env: flockEnv(certs, relay.address, "0", "user1", "1") });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /the relay's certificate names none of relay\.example\.com/);
  });

  it("a party fr-adm issued is revoked by serial with fr-adm's relay CA, and refused once tls.crl names the CRL", { timeout: 90_000 }, async () => {
    assert.ok(relay);
    const running = relay;
    // Party 0 (user1) is revoked; the config lies beside the fr-adm tree, whose folder is certs/.
    const serial = new crypto.X509Certificate(fs.readFileSync(path.join(certs, "0", "cert.pem"))).serialNumber;
    const r = await runCli(["cert", "revoke", "--serial", serial, "-c", configFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /revoked unknown identity serial [0-9A-F]+ in .*certs\/relay\.crl/);
    const config = JSON.parse(fs.readFileSync(configFile, "utf8")) as { tls: Record<string, string> };
    const mark = running.events.length;
    fs.writeFileSync(configFile, JSON.stringify({ ...config, tls: { ...config.tls, crl: "certs/relay.crl" } }));
    await running.waitFor((e) => running.events.indexOf(e) >= mark && e["event"] === "reload" && e["result"] === "reloaded", 20_000);
    const refused = await runCli(["connect", "--timeout", "10"], { env: flockEnv(certs, running.address, "0", "user1", "1"), timeoutMs: 30_000 });
    assert.equal(refused.code, 1);
    const failed = await running.waitFor((e) => running.events.indexOf(e) >= mark && e["event"] === "handshake_failed", 10_000);
    assert.match(String(failed["reason"]), /certificate revoked/);
  });

  it("accepts the relay CA under the name older fr-adm releases gave it (frelay-ca.pem)", { timeout: 60_000 }, async () => {
    const old = path.join(dir, "old");
    fs.cpSync(certs, path.join(old, "certs"), { recursive: true });
    fs.renameSync(path.join(old, "certs", "flockrelay-ca.pem"), path.join(old, "certs", "frelay-ca.pem"));
    const r = await runCli(["init", "--from-flock", path.join(old, "certs"), "-c", path.join(old, "config.json")]);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(fs.readFileSync(path.join(old, "config.json"), "utf8")) as { tls: Record<string, string> };
    assert.equal(config.tls["ca"], "certs/frelay-ca.pem");
    const missing = await runCli(["init", "--from-flock", path.join(dir, "nowhere"), "-c", path.join(old, "other.json")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^frelay: --from-flock: .* is not a folder/);
  });
});
