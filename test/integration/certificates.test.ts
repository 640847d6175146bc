import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import { issueCertificate, type KeyAndCert } from "../../src/pki/certs";
import { relayCaFiles } from "../../src/pki/layout";
import { revokeParty } from "../../src/pki/operations";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";

const DAY = 24 * 3600_000;

/**
 * Each certificate below is refused at the relay's handshake, the party never gets a reply, and
 * the relay's handshake_failed event names the reason. Certificates are made at test time,
 * signed by the fixture's real relay CA unless the case is about the CA.
 */
describe("certificates the relay refuses at the handshake, each with its reason logged", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let relayCa: KeyAndCert;
  before(async () => {
    ({ fx, relay, close } = await suiteRelay());
    const files = relayCaFiles(fx.certsDir);
    relayCa = { certPem: fs.readFileSync(files.cert, "utf8"), keyPem: fs.readFileSync(files.key, "utf8") };
  });
  after(() => close());

  /** 2.user1 (which has a route to 3.user1) presenting `cert` to the relay. */
  async function refusedWith(tag: string, cert: KeyAndCert, reason: RegExp): Promise<void> {
    const settings = { ...fx.party("2.user1", "3.user1", relay.address, tag), relayCert: cert.certPem, relayKey: cert.keyPem };
    const before = relay.events.length;
    await assert.rejects(connect({ ...settings, timeoutMs: 5000 }), /without a reply|closed the connection|TLS with relay|ECONNRESET/);
    const failed = await relay.waitFor((e) => relay.events.indexOf(e) >= before && e["event"] === "handshake_failed", 5000);
    assert.match(String(failed["reason"]), reason);
  }

  const signed = (over: Partial<Parameters<typeof issueCertificate>[0]>): KeyAndCert =>
    issueCertificate({ commonName: "2.user1", usage: "client", days: 2, bits: 2048, issuer: relayCa, ...over });

  it("expired", async () => {
    await refusedWith("exp", signed({ validity: { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) } }), /certificate has expired/);
  });

  it("not yet valid", async () => {
    await refusedWith("nyv", signed({ validity: { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) } }), /certificate is not yet valid/);
  });

  it("wrong key usage: a server-only certificate (extendedKeyUsage serverAuth)", async () => {
    await refusedWith("eku", signed({ usage: "server" }), /unsuitable certificate purpose/);
  });

  it("the relay's own certificate presented as a party certificate", async () => {
    const own = { certPem: fs.readFileSync(path.join(fx.certsDir, "relay.pem"), "utf8"), keyPem: fs.readFileSync(path.join(fx.certsDir, "relay.key"), "utf8") };
    await refusedWith("own", own, /unsuitable certificate purpose|is not an identity/);
  });

  it("a certificate from a foreign CA with a valid-looking identity", async () => {
    const foreign = issueCertificate({ commonName: "some other CA", usage: "ca", days: 2, bits: 2048 });
    await refusedWith("foreign", signed({ issuer: foreign }), /unable to get local issuer certificate|unable to verify the first certificate/);
  });

  it("a certificate from a forged CA that copies the relay CA's name (the signature does not verify)", async () => {
    const forgedCa = issueCertificate({ commonName: new X509Certificate(relayCa.certPem).subject.replace(/^CN=/, ""), usage: "ca", days: 2, bits: 2048 });
    await refusedWith("forged", signed({ issuer: forgedCa }), /signature|padding|TLS|unable to verify the first certificate/);
  });

  it("revoked (CRL): refused from the moment the relay has reloaded the new CRL", async () => {
    const [a, b] = await pair({ ...fx.party("0.user1", "1.user1", relay.address, "pre") }, { ...fx.party("1.user1", "0.user1", relay.address, "pre") });
    a.socket.destroy();
    b.socket.destroy();
    const reloadsBefore = relay.events.filter((e) => e["event"] === "reload").length;
    revokeParty(fx.certsDir, "0.user1");
    await relay.waitFor((e) => e["event"] === "reload" && relay.events.filter((x) => x["event"] === "reload").indexOf(e) >= reloadsBefore, 10_000);
    const settings = fx.party("0.user1", "1.user1", relay.address, "post");
    await refusedWith("post", { certPem: settings.relayCert, keyPem: settings.relayKey }, /certificate revoked/);
  });
});
