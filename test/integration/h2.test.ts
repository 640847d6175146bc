import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as http2 from "node:http2";
import * as path from "node:path";
import * as tls from "node:tls";
import * as fs from "node:fs";
import { connect, dialRelay } from "../../src/client/connect";
import { issueCertificate } from "../../src/pki/certs";
import { dialRelayH2 } from "../../src/client/h2-connect";
import type { Fixture } from "../helpers/fixture";
import { freePort, suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";
import { viaH2c } from "../helpers/h2c-front";
import { readAll, sha256 } from "../helpers/streams";

async function exchange(a: { socket: tls.TLSSocket }, b: { socket: tls.TLSSocket }, size = 1024 * 1024 + 11): Promise<void> {
  const x = crypto.randomBytes(size);
  const y = crypto.randomBytes(size + 100);
  const gotB = readAll(b.socket);
  const gotA = readAll(a.socket);
  a.socket.end(x);
  b.socket.end(y);
  assert.equal(sha256(await gotB), sha256(x));
  assert.equal(sha256(await gotA), sha256(y));
}

describe("HTTP/2 transport: direct ALPN h2 and h2c fronting", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let front: string;
  let certHeader: (identity: string) => Record<string, string>;
  before(async () => {
    const port = await freePort();
    ({ fx, relay, close } = await suiteRelay({ fronting: { address: `127.0.0.1:${port}`, path: "/relay" } }));
    front = `http://127.0.0.1:${port}`;
    certHeader = (identity) => ({ "x-ssl-client-cert": encodeURIComponent(fs.readFileSync(path.join(fx.certsDir, "parties", identity, "relay.pem"), "utf8")) });
  });
  after(() => close());

  it("a party on direct h2 pairs with a party on the stream protocol, either arriving first", async () => {
    for (const h2First of [true, false]) {
      const h2 = { ...fx.party("0.user1", "1.user1", relay.address), transport: "h2" as const, timeoutMs: 10000 };
      const st = { ...fx.party("1.user1", "0.user1", relay.address), timeoutMs: 10000 };
      const [a, b] = h2First ? await pair(h2, st) : (await pair(st, h2)).reverse() as [never, never];
      assert.equal(a.mode, h2First ? 2 : 1);
      await exchange(a, b);
    }
  });

  it("two h2 parties pair with each other, half-close included", async () => {
    const [a, b] = await pair({ ...fx.party("2.user1", "3.user1", relay.address), transport: "h2" }, { ...fx.party("3.user1", "2.user1", relay.address), transport: "h2" });
    a.socket.end("question");
    assert.equal((await readAll(b.socket)).toString(), "question");
    b.socket.end("answer after the question ended");
    assert.equal((await readAll(a.socket)).toString(), "answer after the question ended");
  });

  it("an h2 party whose connection vanishes ends its session at once, whoever arrived first and even after its peer's FIN", async () => {
    const cases = [
      { tag: "vanish-first", h2First: true, peerFinFirst: false },
      { tag: "vanish-second", h2First: false, peerFinFirst: false },
      { tag: "vanish-after-fin", h2First: true, peerFinFirst: true },
    ];
    for (const c of cases) {
      const h2 = () => dialRelayH2({ ...fx.party("2.user1", "3.user1", relay.address, c.tag), transport: "h2", timeoutMs: 10000 }, { host: "127.0.0.1", port: relay.port });
      const peer = () => dialRelay({ ...fx.party("3.user1", "2.user1", relay.address, c.tag), timeoutMs: 10000 });
      const first = c.h2First ? h2() : peer();
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === c.tag);
      const [x, y] = c.h2First ? await Promise.all([first as ReturnType<typeof h2>, peer()]) : (await Promise.all([h2(), first as ReturnType<typeof peer>]));
      if (c.peerFinFirst) {
        // The stream party is done sending; once its FIN has reached the h2 side (END_STREAM),
        // the h2 side may still send, and then vanishes.
        const ended = new Promise((r) => x.stream.once("end", r));
        x.stream.resume();
        y.socket.end();
        await ended;
      }
      x.session.destroy(); // no END_STREAM, no GOAWAY: the TCP connection just ends
      const closed = await relay.waitFor((e) => e["event"] === "closed" && e["tag"] === c.tag, 5000);
      assert.match(String(closed["how"]), /^(closed|done)$/, c.tag);
      y.socket.destroy();
    }
  });

  it("refusals are HTTP statuses with a one-line body", async () => {
    await assert.rejects(connect({ ...fx.party("0.user1", "2.user1", relay.address), transport: "h2", timeoutMs: 5000 }), /relay refused \(403\): no route between 0\.user1 and 2\.user1/);
    await assert.rejects(connect({ ...fx.party("0.user1", "bad!", relay.address), transport: "h2", timeoutMs: 5000 }), /relay refused \(400\): malformed request: header frelay-dest/);
    await assert.rejects(connect({ ...fx.party("0.user1", "1.user1", relay.address), transport: "h2", path: "/other", timeoutMs: 5000 }), /relay refused \(404\)/);
  });

  it("a fronted party (identity from the trusted header) pairs with a direct stream party", async () => {
    const fronted = viaH2c(front, fx.party("0.user1", "1.user1", front), certHeader("0.user1"), "/relay");
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "0.user1" && relay.events.filter((x) => x["event"] === "waiting").length > 0);
    const direct = connect({ ...fx.party("1.user1", "0.user1", relay.address), timeoutMs: 10000 });
    await exchange(await fronted, await direct);
  });

  it("base64 DER (HAProxy's form) works too; a certificate from elsewhere, or none, is refused 403", async () => {
    const der = new crypto.X509Certificate(fs.readFileSync(path.join(fx.certsDir, "parties", "2.user1", "relay.pem"))).raw.toString("base64");
    const fronted = viaH2c(front, fx.party("2.user1", "3.user1", front), { "x-ssl-client-cert": der }, "/relay");
    const direct = connect({ ...fx.party("3.user1", "2.user1", relay.address), timeoutMs: 10000 });
    await exchange(await fronted, await direct, 1000);
    const userCa = encodeURIComponent(fs.readFileSync(path.join(fx.certsDir, "parties", "0.user1", "party.pem"), "utf8"));
    await assert.rejects(viaH2c(front, fx.party("0.user1", "1.user1", front), { "x-ssl-client-cert": userCa }, "/relay"), /403 client certificate rejected: not signed by the relay CA/);
    await assert.rejects(viaH2c(front, fx.party("0.user1", "1.user1", front), {}, "/relay"), /403 no client certificate header/);
    // Signed by the relay CA but not for client authentication (the relay's own certificate),
    // or naming two CNs: the relay judges a forwarded certificate as it would a direct one.
    const relayCert = fs.readFileSync(path.join(fx.certsDir, "relay.pem"), "utf8");
    await assert.rejects(viaH2c(front, fx.party("0.user1", "1.user1", front), { "x-ssl-client-cert": encodeURIComponent(relayCert) }, "/relay"), /403 client certificate (rejected: unsuitable certificate purpose|CN .* is not an identity)/);
    const ca = { certPem: fs.readFileSync(path.join(fx.certsDir, "relay-ca.pem"), "utf8"), keyPem: fs.readFileSync(path.join(fx.certsDir, "relay-ca.key"), "utf8") };
    const serverOnly = issueCertificate({ commonName: "0.user1", usage: "server", days: 1, bits: 2048, issuer: ca });
    await assert.rejects(viaH2c(front, fx.party("0.user1", "1.user1", front), { "x-ssl-client-cert": encodeURIComponent(serverOnly.certPem) }, "/relay"), /403 client certificate rejected: unsuitable certificate purpose/);
  });

  it("the certificate header is ignored on the direct listener: identity comes from the TLS certificate", async () => {
    // 0.user1 forges a header claiming 2.user1 and asks for 3.user1 (a 2.user1 route): refused
    // as 0.user1, who has no route to 3.user1.
    const session = http2.connect(`https://${relay.address}`, { ...tlsOpts(fx.party("0.user1", "3.user1", relay.address)) });
    const stream = session.request({ ":method": "POST", ":path": "/frelay/connect", "frelay-dest": "3.user1", ...certHeader("2.user1") }, { endStream: false });
    const [status, body] = await new Promise<[number, string]>((resolve) => {
      stream.once("response", (h) => {
        let text = "";
        stream.on("data", (c: Buffer) => (text += c.toString()));
        stream.on("end", () => resolve([Number(h[":status"]), text]));
      });
    });
    session.close();
    assert.equal(status, 403);
    assert.match(body, /no route between 0\.user1 and 3\.user1/);
  });

  it("a client offering some other ALPN gets the stream protocol", async () => {
    const s = fx.party("0.user1", "1.user1", relay.address);
    const sock = tls.connect({ ...tlsOpts(s), port: Number(relay.address.split(":")[1]), host: "127.0.0.1", ALPNProtocols: ["flock/1", "http/1.1"] });
    await new Promise((r) => sock.once("secureConnect", r));
    assert.equal(sock.alpnProtocol, "flock/1");
    sock.write(JSON.stringify({ DestParty: "2.user1" }));
    assert.equal((JSON.parse((await readAll(sock)).toString()) as { Code: number }).Code, 403);
  });
});

function tlsOpts(s: { relayCa: string; relayCert: string; relayKey: string }): tls.ConnectionOptions {
  return { ca: s.relayCa, cert: s.relayCert, key: s.relayKey };
}
