import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as http2 from "node:http2";
import * as tls from "node:tls";
import type { PartySettings } from "../../src/client/settings";
import { revokeParty } from "../../src/pki/operations";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";

type Version = "TLSv1.2" | "TLSv1.3";

interface Dialed {
  sock: tls.TLSSocket;
  reused: boolean;
  /** The latest session to resume with (TLS 1.3 sends its tickets after the handshake: read first). */
  session(): Buffer;
}

/** A client that caches sessions, as rustls, Java, .NET and Go's ClientSessionCache do. */
function dial(s: PartySettings, opts: { version: Version; session?: Buffer; alpn?: string[] }): Promise<Dialed> {
  const port = Number(s.relay.slice(s.relay.lastIndexOf(":") + 1));
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host: "127.0.0.1",
      port,
      ca: s.relayCa,
      cert: s.relayCert,
      key: s.relayKey,
      servername: "frelay",
      minVersion: opts.version,
      maxVersion: opts.version,
      ...(opts.session ? { session: opts.session } : {}),
      ...(opts.alpn ? { ALPNProtocols: opts.alpn } : {}),
    });
    let latest: Buffer | undefined;
    sock.on("session", (b: Buffer) => (latest = b));
    const session = () => {
      assert.ok(latest, "the relay issued a session ticket");
      return latest;
    };
    sock.once("error", reject);
    sock.once("secureConnect", () => {
      sock.off("error", reject);
      sock.on("error", () => undefined);
      resolve({ sock, reused: sock.isSessionReused(), session });
    });
  });
}

/** Sends a stream request and returns the relay's reply (a refusal here) once it closes. */
function request(sock: tls.TLSSocket, dest: string): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    sock.on("data", (c: Buffer) => parts.push(c));
    sock.once("close", () => resolve(Buffer.concat(parts).toString()));
    sock.write(JSON.stringify({ DestParty: dest, Tag: "resume" }));
  });
}

/** One HTTP/2 stream over an already-connected TLS socket; resolves with its status. */
function h2Status(sock: tls.TLSSocket, dest: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect("https://frelay", { createConnection: () => sock });
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": "/frelay/connect", "frelay-dest": dest, "frelay-tag": "resume" });
    stream.on("error", reject);
    stream.on("response", (h) => {
      resolve(Number(h[":status"]));
      session.destroy();
    });
    stream.end();
  });
}

/**
 * TLS session resumption on the direct listener: the relay issues tickets and accepts them, for
 * the stream protocol and HTTP/2, TLS 1.2 and 1.3, across reloads; a resumed session is held to
 * the same route and revocation checks as a full handshake.
 */
describe("TLS session resumption on the direct listener", { timeout: 120_000 }, () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  const sessions = new Map<string, Buffer>();
  before(async () => {
    ({ fx, relay, close } = await suiteRelay());
  });
  after(() => close());

  for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
    it(`${version}, stream protocol: the second connection resumes and gets the relay's reply (route still checked)`, async () => {
      const s = fx.party("0.user1", "2.user1", relay.address);
      const first = await dial(s, { version });
      assert.equal(first.reused, false);
      // No route 0.user1 <-> 2.user1: the answer proves the request was judged after the handshake.
      assert.match(await request(first.sock, "2.user1"), /"Code":403/);
      const session = first.session();
      const second = await dial(s, { version, session });
      assert.equal(second.reused, true, "the relay accepted its own ticket");
      assert.match(await request(second.sock, "2.user1"), /"Code":403/);
      sessions.set(version, session);
    });

    it(`${version}, HTTP/2 (ALPN h2): resumes, and the stream is judged as on a full handshake`, async () => {
      const s = fx.party("0.user1", "2.user1", relay.address);
      const first = await dial(s, { version, alpn: ["h2"] });
      assert.equal(await h2Status(first.sock, "2.user1"), 403);
      const session = first.session();
      const second = await dial(s, { version, session, alpn: ["h2"] });
      assert.equal(second.reused, true);
      assert.equal(second.sock.alpnProtocol, "h2");
      assert.equal(await h2Status(second.sock, "2.user1"), 403);
    });
  }

  it("after a reload that revokes the identity, its resumed session is refused (certificate revoked)", async () => {
    const seen = relay.events.length;
    revokeParty(fx.certsDir, "0.user1");
    await relay.waitFor((e) => relay.events.indexOf(e) >= seen && e["event"] === "reload" && e["result"] === "reloaded", 15_000);
    const s = fx.party("0.user1", "1.user1", relay.address);
    for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
      const before = relay.events.length;
      const resumed = await dial(s, { version, session: sessions.get(version) });
      assert.equal(resumed.reused, true, `${version}: tickets survive a reload that keeps the CA`);
      const reply = await request(resumed.sock, "1.user1");
      assert.equal(reply, "", "no reply: the connection is dropped at the handshake");
      const failed = await relay.waitFor((e) => relay.events.indexOf(e) >= before && e["event"] === "handshake_failed");
      assert.match(String(failed["reason"]), /certificate revoked/);
    }
  });
});
