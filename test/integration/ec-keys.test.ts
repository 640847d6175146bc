import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { runCli, startForeground, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";
import { readAll } from "../helpers/streams";

const keyTypeOf = (file: string) => crypto.createPrivateKey(fs.readFileSync(file)).asymmetricKeyType;
const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

describe("ECDSA P-256 keys: --key-type ec for the relay and its parties", { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("frelay init / cert user / cert party --key-type ec write EC keys, 0600, that frelay check accepts", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-ec-"));
    dirs.push(dir);
    const cli = (...args: string[]) => runCli([...args, "-c", path.join(dir, "config.json")]);
    for (const args of [["init", "--key-type", "ec"], ["cert", "user", "user1", "--key-type", "ec"], ["cert", "party", "0", "--user", "user1", "--key-type", "ec"]]) {
      const r = await cli(...args);
      assert.equal(r.code, 0, r.stderr);
    }
    const keys = ["relay-ca.key", "relay.key", "users/user1/ca.key", "parties/0.user1/relay.key", "parties/0.user1/party.key"].map((k) => path.join(dir, "certs", k));
    for (const k of keys) {
      assert.equal(keyTypeOf(k), "ec", k);
      assert.equal(modeOf(k), 0o600, k);
    }
    const server = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "certs", "relay.pem")));
    assert.equal(server.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.ok(server.checkIssued(new crypto.X509Certificate(fs.readFileSync(path.join(dir, "certs", "relay-ca.pem")))));
    assert.ok(server.checkHost("frelay") && server.checkIP("127.0.0.1"));
    const check = await cli("check");
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /config OK/);
    // RSA stays the default; a bad type is a usage error naming the choices.
    const bad = await cli("cert", "party", "1", "--user", "user1", "--key-type", "dsa");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--key-type dsa is not supported \(use rsa or ec\)/);
    const rsa = await cli("cert", "party", "1", "--user", "user1");
    assert.equal(rsa.code, 0, rsa.stderr);
    assert.equal(keyTypeOf(path.join(dir, "certs", "parties", "1.user1", "relay.key")), "rsa");
  });

  describe("through the real relay, every certificate EC", () => {
    let fx: Fixture;
    let relay: RunningRelay;
    before(async () => {
      fx = makeFixture([["0", "user1"], ["1", "user1"], ["2", "user1"], ["3", "user1"]], { keyType: "ec" });
      fx.writeConfig();
      relay = await startForeground(fx.configFile);
    });
    after(async () => {
      await relay?.stop();
      fx?.cleanup();
    });

    it("two parties pair and run their end-to-end TLS over EC certificates", async () => {
      const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
      assert.equal(keyTypeOf(path.join(fx.certsDir, "parties", "0.user1", "party.key")), "ec");
      a.socket.end("over EC, both ways");
      b.socket.end("and back");
      assert.equal((await readAll(b.socket)).toString(), "over EC, both ways");
      assert.equal((await readAll(a.socket)).toString(), "and back");
    });

    it("revocation by a CRL the EC CA signed: the revoked party is refused after the reload", async () => {
      const mark = relay.events.length;
      const r = await runCli(["cert", "revoke", "3.user1", "-c", fx.configFile]);
      assert.equal(r.code, 0, r.stderr);
      await relay.waitFor((e) => relay.events.indexOf(e) >= mark && e["event"] === "reload" && e["result"] === "reloaded", 15_000);
      await assert.rejects(connect({ ...fx.party("3.user1", "2.user1", relay.address), timeoutMs: 5000 }));
      const failed = await relay.waitFor((e) => relay.events.indexOf(e) >= mark && e["event"] === "handshake_failed");
      assert.match(String(failed["reason"]), /revoked/);
    });
  });
});
