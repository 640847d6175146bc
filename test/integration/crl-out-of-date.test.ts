import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import type { PartySettings } from "../../src/client/settings";
import { buildCrl, parseCrl, serialOf, type KeyAndCert } from "../../src/pki/certs";
import { normalizeSerial } from "../../src/pki/identity";
import { crlFile, relayCaFiles } from "../../src/pki/layout";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { freePort, runCli, startForeground, type CliResult, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";

const DAY = 24 * 3600_000;

/**
 * An out-of-date CRL never locks everyone out: the relay keeps enforcing its entries whatever its
 * thisUpdate and nextUpdate say, and tells the operator to renew it (check, status, log, metric).
 */
describe("a CRL past its nextUpdate, or ahead of the clock, still revokes exactly its entries", { timeout: 180_000 }, () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let ca: KeyAndCert;
  let metricsPort: number;
  let revokedSerial: string;
  const cli = (...args: string[]) => runCli([...args, "-c", fx.configFile], { cwd: fx.dir });

  function writeCrl(opts: { now?: Date; days?: number }): void {
    fs.writeFileSync(crlFile(fx.certsDir), buildCrl(ca, [{ serial: revokedSerial, date: new Date(Date.now() - 2 * DAY).toISOString() }], opts));
  }

  async function andReload(action: () => unknown): Promise<void> {
    const seen = relay.events.length;
    await action();
    await relay.waitFor((e) => relay.events.indexOf(e) >= seen && e["event"] === "reload" && e["result"] === "reloaded", 15_000);
  }

  async function pairs(tag: string): Promise<void> {
    const [x, y] = await pair(fx.party("0.user1", "1.user1", relay.address, tag), fx.party("1.user1", "0.user1", relay.address, tag));
    x.socket.destroy();
    y.socket.destroy();
  }

  async function revokedRefused(tag: string): Promise<void> {
    const s: PartySettings = fx.party("3.user1", "2.user1", relay.address, tag);
    const seen = relay.events.length;
    await assert.rejects(connect({ ...s, timeoutMs: 5000 }), /without a reply|closed the connection|TLS with relay|ECONNRESET/);
    const failed = await relay.waitFor((e) => relay.events.indexOf(e) >= seen && e["event"] === "handshake_failed", 5000);
    assert.match(String(failed["reason"]), /certificate revoked/);
  }

  before(async () => {
    fx = makeFixture();
    const files = relayCaFiles(fx.certsDir);
    ca = { certPem: fs.readFileSync(files.cert, "utf8"), keyPem: fs.readFileSync(files.key, "utf8") };
    revokedSerial = normalizeSerial(serialOf(fs.readFileSync(path.join(fx.certsDir, "parties/3.user1/relay.pem"), "utf8")));
    // Signed 400 days ago for 365 days: nextUpdate passed 35 days ago.
    writeCrl({ now: new Date(Date.now() - 400 * DAY) });
    metricsPort = await freePort();
    fx.writeConfig({ metrics: { address: `127.0.0.1:${metricsPort}` } });
    relay = await startForeground(fx.configFile);
  });
  after(async () => {
    await relay.stop();
    fx.cleanup();
  });

  it("expired: parties pair, the revoked one is refused; check, status, log and metric name nextUpdate", async () => {
    await pairs("expired");
    await revokedRefused("expired");
    const nextUpdate = (parseCrl(fs.readFileSync(crlFile(fx.certsDir), "utf8")).nextUpdate as Date).toISOString();
    const warned = await relay.waitFor((e) => e["event"] === "crl_expired");
    assert.equal(warned["level"], "warn");
    assert.equal(warned["next_update"], nextUpdate);
    const check = await cli("check");
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, new RegExp(`^config OK\\ntls\\.crl .*: 1 revoked certificate; nextUpdate ${nextUpdate} has passed: renew it with "frelay cert crl renew"`));
    const status = await cli("status");
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`crl: .*EXPIRED, .*nextUpdate ${nextUpdate} has passed`));
    const json = JSON.parse((await cli("status", "--json")).stdout) as { crl: { next_update: string; state: string } };
    assert.deepEqual([json.crl.state, json.crl.next_update], ["expired", nextUpdate]);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`^frelay_crl_next_update_timestamp_seconds ${Date.parse(nextUpdate) / 1000}$`, "m"));
  });

  it("not yet valid (signed on a host whose clock runs 30 minutes ahead): still enforced, nobody else refused", async () => {
    await andReload(() => writeCrl({ now: new Date(Date.now() + 30 * 60_000) }));
    await pairs("ahead");
    await revokedRefused("ahead");
    assert.match((await cli("check")).stdout, /thisUpdate .* is in the future/);
  });

  it("expiring in 10 days: a warning at reload, and check says to renew", async () => {
    const seen = relay.events.length;
    await andReload(() => writeCrl({ days: 10 }));
    const warned = await relay.waitFor((e) => relay.events.indexOf(e) >= seen && e["event"] === "crl_expiring");
    assert.equal(warned["level"], "warn");
    assert.match((await cli("check")).stdout, /nextUpdate .* is in 9 days: renew it with "frelay cert crl renew"/);
  });

  it("cert crl renew re-signs the same entries for a year, thisUpdate backdated; OpenSSL accepts it", async () => {
    // Each write's reload is awaited with its mark taken before the write: the renew's own reload
    // can land before the CLI process has exited, so a mark taken after it would miss it.
    await andReload(() => writeCrl({ now: new Date(Date.now() - 400 * DAY) }));
    let r!: CliResult;
    await andReload(async () => (r = await cli("cert", "crl", "renew")));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /renewed certs\/relay\.crl: 1 revoked, next update /);
    const crl = parseCrl(fs.readFileSync(crlFile(fx.certsDir), "utf8"));
    assert.deepEqual(crl.entries.map((e) => e.serial), [revokedSerial]);
    assert.ok((crl.nextUpdate as Date).getTime() > Date.now() + 364 * DAY);
    assert.ok(crl.thisUpdate.getTime() <= Date.now() - 5 * 60_000, "thisUpdate backdated by minutes");
    assert.ok(crl.thisUpdate.getTime() >= Date.now() - 60 * 60_000);
    const verify = execFileSync("openssl", ["crl", "-in", crlFile(fx.certsDir), "-CAfile", relayCaFiles(fx.certsDir).cert, "-noout"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    assert.equal(verify, "");
    assert.match((await cli("check")).stdout, /tls\.crl .*: 1 revoked certificate; next update .* \(in 36[45] days\)/);
    await pairs("renewed");
    await revokedRefused("renewed");

    // cert revoke writes a fresh CRL too, with every earlier entry.
    writeCrl({ now: new Date(Date.now() - 400 * DAY) });
    r = await cli("cert", "revoke", "2.user1");
    assert.equal(r.code, 0, r.stderr);
    const after = parseCrl(fs.readFileSync(crlFile(fx.certsDir), "utf8"));
    assert.equal(after.entries.length, 2);
    assert.ok(after.entries.some((e) => e.serial === revokedSerial));
    assert.ok((after.nextUpdate as Date).getTime() > Date.now() + 364 * DAY);
  });

  it("a CRL not signed by the relay CA is a config error (check and reload say so; the old one stays)", async () => {
    const other = makeFixture([["0", "user1"]], { fresh: true });
    try {
      fs.copyFileSync(crlFile(other.certsDir), crlFile(fx.certsDir));
      const check = await cli("check");
      assert.equal(check.code, 1);
      assert.match(check.stderr, /tls\.crl: certs\/relay\.crl is not signed by the relay CA/);
      const reload = await cli("reload");
      assert.equal(reload.code, 1);
      await revokedRefused("foreign-crl");
    } finally {
      other.cleanup();
    }
  });
});
