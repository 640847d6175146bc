import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { connect } from "../../src/client/connect";
import type { PartySettings } from "../../src/client/settings";
import { normalizeSerial } from "../../src/pki/identity";
import type { Fixture } from "../helpers/fixture";
import { runCli, suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";

const serialOf = (pem: string) => normalizeSerial(new X509Certificate(pem).serialNumber);

/**
 * Every relay certificate an identity was ever given can be revoked: `cert party --force`
 * revokes the one it replaces, `cert revoke <identity>` all of them, `--serial` one.
 */
describe("revocation covers re-issued certificates (cert party --force, cert revoke, --serial)", { timeout: 120_000 }, () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  const cli = (...args: string[]) => runCli([...args, "-c", fx.configFile], { cwd: fx.dir });
  before(async () => {
    ({ fx, relay, close } = await suiteRelay());
  });
  after(() => close());

  /** Runs `action` and waits for the reload the CRL change causes. */
  async function andReload<T>(action: () => Promise<T>): Promise<T> {
    const seen = relay.events.length;
    const r = await action();
    await relay.waitFor((e) => relay.events.indexOf(e) >= seen && e["event"] === "reload" && e["result"] === "reloaded", 15_000);
    return r;
  }

  async function refused(s: PartySettings, tag: string): Promise<void> {
    const seen = relay.events.length;
    await assert.rejects(connect({ ...s, tag, timeoutMs: 5000 }), /without a reply|closed the connection|TLS with relay|ECONNRESET/);
    const failed = await relay.waitFor((e) => relay.events.indexOf(e) >= seen && e["event"] === "handshake_failed", 5000);
    assert.match(String(failed["reason"]), /certificate revoked/);
  }

  async function pairs(a: PartySettings, b: PartySettings, tag: string): Promise<void> {
    const [x, y] = await pair({ ...a, tag }, { ...b, tag });
    x.socket.destroy();
    y.socket.destroy();
  }

  it("cert party --force revokes the certificate it replaces and says so; the new one works", async () => {
    const old = fx.party("0.user1", "1.user1", relay.address);
    const r = await andReload(() => cli("cert", "party", "0", "--user", "user1", "--force"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`revoked the replaced relay certificate \\(serial ${serialOf(old.relayCert)}\\)`));
    await refused(old, "old");
    await pairs(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address), "new");
  });

  it("cert revoke <identity> revokes every certificate the identity was given", async () => {
    const current = fx.party("0.user1", "1.user1", relay.address);
    const r = await andReload(() => cli("cert", "revoke", "0.user1"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`revoked 0\\.user1 serial ${serialOf(current.relayCert)}`));
    await refused(current, "current");
    // The peer is untouched.
    await pairs(fx.party("1.user1", "0.user1", relay.address), fx.party("0.user1", "1.user1", relay.address), "x").then(
      () => assert.fail("0.user1 must not pair any more"),
      () => undefined,
    );
  });

  it("cert revoke --serial <hex> revokes that one certificate, named as openssl prints it", async () => {
    const victim = fx.party("2.user1", "3.user1", relay.address);
    const serial = serialOf(victim.relayCert);
    const r = await andReload(() => cli("cert", "revoke", "--serial", `serial=${serial.toLowerCase()}`));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`revoked 2\\.user1 serial ${serial}`));
    await refused(victim, "serial");
    const usage = await cli("cert", "revoke", "--serial", "not-hex");
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--serial not-hex is not a hex serial number/);
    const neither = await cli("cert", "revoke");
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /name what to revoke/);
  });
});
