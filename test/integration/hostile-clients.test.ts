import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { issueCertificate } from "../../src/pki/certs";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";
import { readAll, sha256 } from "../helpers/streams";

/** Opens a connection, does `act` to it, and resolves when the relay has closed it. */
function closedByRelay(port: number, act: (s: net.Socket) => void): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => act(s));
    s.on("error", () => undefined);
    s.on("close", () => resolve());
    s.resume();
  });
}

function tlsAttempt(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: "127.0.0.1", port, ...opts });
    let outcome = "closed";
    s.on("secureConnect", () => s.write(JSON.stringify({ DestParty: "1.user1" })));
    s.on("data", (c: Buffer) => (outcome = `data:${c.toString()}`));
    s.on("error", (e: Error) => (outcome = `error:${e.message}`));
    s.on("close", () => resolve(outcome));
  });
}

describe("hostile and broken clients do not disturb anyone else", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay()));
  after(async () => {
    await close();
  });

  it("garbage, certificate-less, foreign-CA and silent clients are dropped while a session keeps flowing", async () => {
    const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
    const payload = crypto.randomBytes(4 * 1024 * 1024);
    const received = readAll(b.socket);
    // Write the payload slowly, in pieces, while the attacks run.
    const writer = (async () => {
      for (let off = 0; off < payload.length; off += 256 * 1024) {
        a.socket.write(payload.subarray(off, off + 256 * 1024));
        await new Promise((r) => setTimeout(r, 10));
      }
      a.socket.end();
    })();

    const foreignCa = issueCertificate({ commonName: "evil CA", usage: "ca", days: 2, bits: 2048 });
    const forged = issueCertificate({ commonName: "0.user1", usage: "client", days: 2, bits: 2048, altNames: ["0.user1"], issuer: foreignCa });
    const relayCa = fs.readFileSync(path.join(fx.certsDir, "relay-ca.pem"), "utf8");
    const silentStart = Date.now();
    const [, , , noCert, foreign, silent] = await Promise.all([
      closedByRelay(relay.port, (s) => s.write(crypto.randomBytes(3000))),
      closedByRelay(relay.port, (s) => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
      closedByRelay(relay.port, (s) => s.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]))),
      tlsAttempt(relay.port, { ca: relayCa }),
      tlsAttempt(relay.port, { ca: relayCa, cert: forged.certPem, key: forged.keyPem }),
      closedByRelay(relay.port, () => undefined).then(() => Date.now() - silentStart),
    ]);
    assert.doesNotMatch(noCert, /Mode/, "no reply to a client without a certificate");
    assert.doesNotMatch(foreign, /Mode/, "no reply to a certificate from a foreign CA");
    assert.ok(silent >= 1500, `a silent client is dropped at timeouts.handshake (2s), not before (${silent} ms)`);

    await writer;
    assert.equal(sha256(await received), sha256(payload));
    b.socket.end();
    const failures = relay.events.filter((e) => e["event"] === "handshake_failed").map((e) => String(e["reason"]));
    assert.ok(failures.some((r) => /no client certificate/.test(r)), failures.join("\n"));
    assert.ok(failures.some((r) => /client certificate rejected/.test(r)), failures.join("\n"));
    assert.ok(failures.some((r) => /no request within/.test(r)), failures.join("\n"));
  });

  it("many silent connections do not delay another party's handshake", async () => {
    const silent = await Promise.all(
      Array.from({ length: 50 }, () => new Promise<net.Socket>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port: relay.port }, () => resolve(s));
        s.on("error", () => undefined);
      })),
    );
    const [a, b] = await pair(fx.party("2.user1", "3.user1", relay.address), fx.party("3.user1", "2.user1", relay.address));
    a.socket.end("through");
    assert.equal((await readAll(b.socket)).toString(), "through");
    b.socket.end();
    for (const s of silent) s.destroy();
  });
});
