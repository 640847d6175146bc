import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as path from "node:path";
import { issueCertificate } from "../../src/pki/certs";
import { relayCaFiles } from "../../src/pki/layout";
import type { Fixture } from "../helpers/fixture";
import { freePort, runCli, suiteRelay, type RunningRelay } from "../helpers/cli";

/**
 * What h2-bounds.test.ts shows for direct HTTP/2, on the fronting listener: a trusted front's
 * connection is bounded in time like any other, and every stream it carries is judged by the
 * CRL and dates in force when the stream arrives, not when the connection was made. Also the
 * first-stream bound of a direct h2 connection, and a configured client address header.
 */
describe("fronting connections: bounded in time, every stream judged now", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let frontPort: number;
  let certHeader: (pem: string) => Record<string, string>;
  const relayPem = (identity: string) => fs.readFileSync(path.join(fx.certsDir, "parties", identity, "relay.pem"), "utf8");
  before(async () => {
    frontPort = await freePort();
    ({ fx, relay, close } = await suiteRelay({
      fronting: { address: `127.0.0.1:${frontPort}`, trusted_proxies: ["127.0.0.1"], client_address_header: "x-client-address" },
      timeouts: { handshake: "2s", pair: "30s", idle: "0s", drain: "2s", h2_idle: "1s", h2_lifetime: "4h" },
    }));
    certHeader = (pem) => ({ "x-ssl-client-cert": encodeURIComponent(pem) });
  });
  after(() => close());

  /** An h2c connection from the trusted front (127.0.0.1), connected. */
  function front(): Promise<http2.ClientHttp2Session> {
    const session = http2.connect(`http://127.0.0.1:${frontPort}`);
    session.on("error", () => undefined);
    return new Promise((resolve, reject) => {
      session.once("connect", () => resolve(session));
      session.once("close", () => reject(new Error("front connection closed before it connected")));
    });
  }

  /** A stream as a front forwards it; `status` resolves with the relay's answer and its body. */
  function forward(session: http2.ClientHttp2Session, headers: Record<string, string>, dest: string, tag: string): { stream: http2.ClientHttp2Stream; answer: Promise<{ status: number; body: string }> } {
    const stream = session.request({ ":method": "POST", ":path": "/frelay/connect", "frelay-dest": dest, "frelay-tag": tag, ...headers }, { endStream: false });
    stream.on("error", () => undefined);
    const answer = new Promise<{ status: number; body: string }>((resolve) => {
      stream.once("response", (h) => {
        const status = Number(h[":status"]);
        if (status === 200) return resolve({ status, body: "" });
        let body = "";
        stream.on("data", (c: Buffer) => (body += c.toString()));
        stream.once("close", () => resolve({ status, body: body.trim() }));
      });
    });
    return { stream, answer };
  }

  /** Milliseconds from now until `session` is closed, bounded by `limitMs`. */
  function closedWithin(session: http2.ClientHttp2Session, limitMs: number): Promise<number> {
    const start = Date.now();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the relay kept the connection past ${limitMs} ms`)), limitMs);
      const done = () => {
        clearTimeout(t);
        resolve(Date.now() - start);
      };
      if (session.closed || session.destroyed) return done();
      session.once("close", done);
    });
  }

  it("a front's connection with no open stream is closed after timeouts.h2_idle", { timeout: 30_000 }, async () => {
    const session = await front();
    try {
      // No route 2.user1 <-> 0.user1: refused, and the connection has no stream left.
      const { answer } = forward(session, certHeader(relayPem("2.user1")), "0.user1", "idle");
      assert.equal((await answer).status, 403);
      const ms = await closedWithin(session, 15_000);
      assert.ok(ms >= 500, `closed ${ms} ms after its last stream (h2_idle 1s)`);
      await relay.waitFor((e) => e["event"] === "h2_connection_closed" && /timeouts\.h2_idle/.test(String(e["reason"])));
    } finally {
      session.destroy();
    }
  });

  it("a connection that never opens a stream is closed at timeouts.handshake, on the fronting and the direct listener", { timeout: 30_000 }, async () => {
    const s = fx.party("0.user1", "", relay.address);
    const direct = http2.connect(`https://127.0.0.1:${relay.port}`, { ca: s.relayCa, cert: s.relayCert, key: s.relayKey, servername: "frelay" });
    direct.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      direct.once("connect", () => resolve());
      direct.once("close", () => reject(new Error("direct h2 connection closed before it connected")));
    });
    const fronting = await front();
    try {
      const [a, b] = await Promise.all([closedWithin(fronting, 15_000), closedWithin(direct, 15_000)]);
      for (const ms of [a, b]) assert.ok(ms >= 1500, `closed after ${ms} ms, expected about timeouts.handshake (2s)`);
    } finally {
      fronting.destroy();
      direct.destroy();
    }
  });

  it("a stream on a front connection made before a revocation is refused 403; the connection serves the others", { timeout: 60_000 }, async () => {
    const session = await front();
    try {
      // A waiting party keeps the connection from idling out across the reload.
      const keep = forward(session, certHeader(relayPem("0.user1")), "1.user1", "keep");
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "keep");
      const before = forward(session, certHeader(relayPem("3.user1")), "2.user1", "pre-revoke");
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "pre-revoke");
      const mark = relay.events.length;
      const revoked = await runCli(["cert", "revoke", "3.user1", "-c", fx.configFile]);
      assert.equal(revoked.code, 0, revoked.stderr);
      await relay.waitFor((e) => relay.events.indexOf(e) >= mark && e["event"] === "reload" && e["result"] === "reloaded", 15_000);
      // Its waiting stream goes with the revocation; a new stream of it on the same connection is refused.
      assert.equal((await before.answer).status, 403);
      const after = forward(session, certHeader(relayPem("3.user1")), "2.user1", "post-revoke");
      assert.deepEqual(await after.answer, { status: 403, body: "client certificate rejected: certificate revoked" });
      // The front's connection still carries other identities.
      assert.equal(session.closed || session.destroyed, false, "the front's connection was not closed");
      const other = forward(session, certHeader(relayPem("2.user1")), "3.user1", "other");
      await relay.waitFor((e) => relay.events.indexOf(e) >= mark && e["event"] === "waiting" && e["tag"] === "other" && e["identity"] === "2.user1");
      other.stream.close();
      keep.stream.close();
    } finally {
      session.destroy();
    }
  });

  it("a forwarded certificate outside its validity dates is refused 403 on every stream", { timeout: 30_000 }, async () => {
    const files = relayCaFiles(fx.certsDir);
    const ca = { certPem: fs.readFileSync(files.cert, "utf8"), keyPem: fs.readFileSync(files.key, "utf8") };
    const DAY = 24 * 3600_000;
    const expired = issueCertificate({ commonName: "0.user1", usage: "client", days: 1, bits: 2048, keyType: "ec", issuer: ca, validity: { notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) } });
    const early = issueCertificate({ commonName: "0.user1", usage: "client", days: 1, bits: 2048, keyType: "ec", issuer: ca, validity: { notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) } });
    const session = await front();
    try {
      for (const cert of [expired, early]) {
        const { answer } = forward(session, certHeader(cert.certPem), "1.user1", "dates");
        assert.deepEqual(await answer, { status: 403, body: "client certificate rejected: outside its validity dates" });
      }
    } finally {
      session.destroy();
    }
  });

  it("with fronting.client_address_header set, the address is read from that header, not x-forwarded-for", { timeout: 30_000 }, async () => {
    const session = await front();
    try {
      const { stream } = forward(session, { ...certHeader(relayPem("2.user1")), "x-forwarded-for": "6.6.6.6", "x-client-address": "198.51.100.7" }, "3.user1", "addr");
      const waiting = await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "addr");
      assert.equal(waiting["remote"], "198.51.100.7");
      stream.close();
    } finally {
      session.destroy();
    }
  });
});
