import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli";

const mode = (f: string) => fs.statSync(f).mode & 0o777;

describe("frelay init / cert: the PKI as a user makes it", () => {
  let dir: string;
  const cli = (...args: string[]) => runCli(args, { cwd: dir });
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-pki-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("init creates the relay CA, the relay certificate, a CRL and config.json; keys 0600", async () => {
    const r = await cli("init", "--hostname", "relay.example.com", "--hostname", "10.1.2.3");
    assert.equal(r.code, 0, r.stderr);
    for (const f of ["certs/relay-ca.pem", "certs/relay-ca.key", "certs/relay.pem", "certs/relay.key", "certs/relay.crl", "config.json"]) {
      assert.match(r.stdout, new RegExp(`created ${f.replace(/\./g, "\\.")}`));
    }
    assert.equal(mode(path.join(dir, "certs/relay-ca.key")), 0o600);
    assert.equal(mode(path.join(dir, "certs/relay.key")), 0o600);
    assert.match(fs.readFileSync(path.join(dir, "certs/relay.key"), "utf8"), new RegExp(`^-----BEGIN PRIVATE ${"KEY"}-----`), "PKCS#8 PEM");
    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "certs/relay.pem")));
    const ca = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "certs/relay-ca.pem")));
    assert.ok(cert.verify(ca.publicKey), "relay certificate signed by the relay CA");
    assert.ok(ca.ca, "the CA is a CA");
    for (const name of ["DNS:frelay", "DNS:flockrelay", "DNS:localhost", "IP Address:127.0.0.1", "DNS:relay.example.com", "IP Address:10.1.2.3"]) {
      assert.ok(cert.subjectAltName?.includes(name), `${name} in ${cert.subjectAltName}`);
    }
    const text = execFileSync("openssl", ["x509", "-noout", "-text"], { input: cert.toString() }).toString();
    assert.match(text, /Signature Algorithm: sha256WithRSAEncryption/);
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.match((await cli("check")).stdout, /^config OK\n/);
  });

  it("init again changes nothing; --force replaces", async () => {
    const key = fs.readFileSync(path.join(dir, "certs/relay-ca.key"));
    const again = await cli("init");
    assert.equal(again.code, 0);
    assert.match(again.stdout, /nothing to do/);
    assert.deepEqual(fs.readFileSync(path.join(dir, "certs/relay-ca.key")), key);
    const forced = await cli("init", "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.notDeepEqual(fs.readFileSync(path.join(dir, "certs/relay-ca.key")), key);
    assert.equal(mode(path.join(dir, "certs/relay-ca.key")), 0o600);
  });

  it("cert user and cert party make the user CA, both party certificates and party.env", async () => {
    assert.equal((await cli("cert", "user", "user1")).code, 0);
    const r = await cli("cert", "party", "0", "--user", "user1", "--bits", "3072");
    assert.equal(r.code, 0, r.stderr);
    const p = (f: string) => path.join(dir, "certs/parties/0.user1", f);
    for (const f of ["relay.key", "party.key", "party.env"]) assert.equal(mode(p(f)), 0o600, f);
    assert.equal(mode(path.join(dir, "certs/users/user1/ca.key")), 0o600);
    const relayCert = new crypto.X509Certificate(fs.readFileSync(p("relay.pem")));
    const partyCert = new crypto.X509Certificate(fs.readFileSync(p("party.pem")));
    const userCa = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "certs/users/user1/ca.pem")));
    const relayCa = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "certs/relay-ca.pem")));
    assert.match(relayCert.subject, /CN=0\.user1/);
    assert.ok(relayCert.verify(relayCa.publicKey));
    assert.ok(partyCert.verify(userCa.publicKey));
    assert.equal(partyCert.subjectAltName, "DNS:0.user1");
    assert.equal(partyCert.checkHost("0.user1"), "0.user1");
    assert.equal(partyCert.publicKey.asymmetricKeyDetails?.modulusLength, 3072);
    // party.env, sourced by a shell exactly as README says, exports every setting.
    const env = execFileSync("bash", ["-c", `set -a; . ${p("party.env")}; printf '%s\\n' "$RELAY" "$RELAY_CERT" "$PARTY_KEY"`]).toString();
    assert.match(env, new RegExp(`^127\\.0\\.0\\.1:6000\\n-----BEGIN CERTIFICATE-----\\n[\\s\\S]+-----END CERTIFICATE-----\\n-----BEGIN PRIVATE ${"KEY"}-----`));
  });

  it("refuses to overwrite a party without --force, and explains", async () => {
    const r = await cli("cert", "party", "0", "--user", "user1");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^frelay: .*relay\.key already exists \(use --force to replace it\) \[FRELAY_ERR_EXISTS\]\n$/);
  });

  it("bad input gets one line naming the problem and the fix", async () => {
    const cases: [string[], number, RegExp][] = [
      [["cert", "party", "bad_name", "--user", "user1"], 2, /party name "bad_name" is not valid/],
      [["cert", "user", "no way"], 2, /user name "no way" is not valid/],
      [["cert", "party", "1", "--user", "nobody"], 1, /user CA of nobody not found .*run frelay cert user nobody/],
      [["init", "--bits", "1024"], 2, /--bits 1024 is not supported \(use 2048, 3072 or 4096\)/],
      [["cert", "revoke", "9.user1"], 1, /relay certificate of 9\.user1: .* does not exist/],
    ];
    for (const [args, code, re] of cases) {
      const r = await cli(...args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });

  it("cert party works from CA folders elsewhere (--relay-ca-dir, --user-ca-dir)", async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-pki2-"));
    try {
      const r = await runCli(["cert", "party", "x", "--user", "user1", "--relay-ca-dir", path.join(dir, "certs"), "--user-ca-dir", path.join(dir, "certs/users/user1"), "--relay", "relay.example.com:443"], { cwd: other });
      assert.equal(r.code, 0, r.stderr);
      assert.match(fs.readFileSync(path.join(other, "certs/parties/x.user1/party.env"), "utf8"), /^RELAY='relay\.example\.com:443'$/m);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
