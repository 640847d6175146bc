import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { makeFixture, type Fixture } from "../../helpers/fixture";
import { peerCertificate, verifiedPeer } from "../../../src/transport/peer-identity";

/**
 * Reading a client's certificate on the relay's side of a real mutual-TLS connection: the
 * fields come out as X509Certificate gives them, and reading them takes nothing from the
 * connection. (Node 20's getPeerX509Certificate() pops the client certificate off the session's
 * chain and never frees it: a leak of one parsed certificate per handshake.)
 */
describe("peer certificate: read from the connection, never taken from it", { timeout: 30_000 }, () => {
  let fx: Fixture;
  let server: net.Server;
  let serverSide: Promise<tls.TLSSocket>;
  let client: tls.TLSSocket;

  before(async () => {
    fx = makeFixture([["0", "user1"]]);
    const read = (f: string) => fs.readFileSync(path.join(fx.certsDir, f));
    const secureContext = tls.createSecureContext({ ca: read("relay-ca.pem"), cert: read("relay.pem"), key: read("relay.key") });
    serverSide = new Promise((resolve) => {
      server = net.createServer((raw) => {
        const t = new tls.TLSSocket(raw, { isServer: true, secureContext, requestCert: true, rejectUnauthorized: false });
        t.on("error", () => undefined);
        t.once("secure", () => resolve(t));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const party = fx.party("0.user1", "1.user1", "");
    client = tls.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, ca: party.relayCa, cert: party.relayCert, key: party.relayKey, servername: "localhost" });
    client.on("error", () => undefined);
    await new Promise((r) => client.once("secureConnect", r));
  });

  after(() => {
    client?.destroy();
    server?.close();
    fx?.cleanup();
  });

  it("gives subject, key usage, serial and expiry in X509Certificate's formats", async () => {
    const t = await serverSide;
    const expected = new X509Certificate(fx.party("0.user1", "1.user1", "").relayCert);
    const got = peerCertificate(t);
    assert.ok(got);
    assert.deepEqual(got.subject.split("\n").sort(), expected.subject.split("\n").sort());
    assert.deepEqual(got.keyUsage, expected.keyUsage);
    assert.equal(got.serialNumber, expected.serialNumber);
    assert.equal(got.validTo, expected.validTo);
  });

  it("leaves the session's peer chain as it was, however often the identity is read", async () => {
    const t = await serverSide;
    const first = verifiedPeer(t, () => false);
    assert.equal(first.ok && first.identity, "0.user1");
    for (let i = 0; i < 3; i++) assert.deepEqual(verifiedPeer(t, () => false), first);
    // getPeerX509Certificate() hands the last certificate of the chain out as the issuer (and
    // pops it): it is still there only if nothing popped it before.
    assert.ok(t.getPeerX509Certificate()?.issuerCertificate, "the client certificate was taken off the session's chain (and leaked)");
  });

  it("a certificate already read is still checked against the CRL on every handshake", async () => {
    const t = await serverSide;
    const ok = verifiedPeer(t, () => false);
    assert.ok(ok.ok);
    const serial = ok.serial;
    assert.deepEqual(verifiedPeer(t, (s) => s === serial), { ok: false, reason: "client certificate rejected: certificate revoked" });
    assert.deepEqual(verifiedPeer(t, () => false), ok);
  });
});
