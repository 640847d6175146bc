import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as path from "node:path";
import { controlRequest } from "../../src/daemon/control-client";
import { issueCertificate } from "../../src/pki/certs";
import { relayCaFiles } from "../../src/pki/layout";
import type { Fixture } from "../helpers/fixture";
import { freePort, runCli, suiteRelay, type RunningRelay } from "../helpers/cli";
import { connect } from "../../src/client/connect";

/**
 * An HTTP/2 connection does not outlive the checks made when it began: revocation, expiry,
 * idleness and age end it or its new streams; and fronting connections count against the
 * relay's connection limits like any other.
 */
describe("HTTP/2 connections are bounded: revocation, expiry, idleness, lifetime, limits", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let frontPort: number;
  let suiteConfig: { timeouts: Record<string, string> } & Record<string, unknown>;
  before(async () => {
    frontPort = await freePort();
    suiteConfig = {
      fronting: { address: `127.0.0.1:${frontPort}`, trusted_proxies: ["127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.5"] },
      timeouts: { handshake: "10s", pair: "30s", idle: "0s", drain: "2s", h2_idle: "1s", h2_lifetime: "20s" },
      limits: { max_connections: 6, max_handshakes_per_address: 3 },
    };
    ({ fx, relay, close } = await suiteRelay(suiteConfig));
  });
  after(() => close());

  /** A direct HTTP/2 connection with `identity`'s relay certificate (or the one given). */
  function h2Session(identity: string, cert?: { certPem: string; keyPem: string }): Promise<{ session: http2.ClientHttp2Session }> {
    const s = fx.party(identity, "", relay.address);
    const session = http2.connect(`https://127.0.0.1:${relay.port}`, { ca: s.relayCa, cert: cert?.certPem ?? s.relayCert, key: cert?.keyPem ?? s.relayKey });
    session.on("error", () => undefined);
    return new Promise((resolve, reject) => {
      session.once("connect", () => resolve({ session }));
      session.once("close", () => reject(new Error("h2 session closed before it connected")));
    });
  }

  const openConnections = async () => ((await controlRequest(path.join(fx.dir, "frelay.sock"), "GET", "/status")).body as { connections: number }).connections;

  /**
   * Waits until the relay's control socket reports at most `n` open connections: the relay's
   * own word that it let a connection go (Node's h2 client may not notice the relay's FIN).
   */
  async function connectionsDropTo(n: number, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const connections = await openConnections();
      if (connections <= n) return;
      if (Date.now() > deadline) assert.fail(`the relay still holds ${connections} connections, expected at most ${n}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A stream POST /frelay/connect; resolves with the response status (or "open" while it waits). */
  function request(session: http2.ClientHttp2Session, dest: string, tag: string): { stream: http2.ClientHttp2Stream; status: Promise<number> } {
    const stream = session.request({ ":method": "POST", ":path": "/frelay/connect", "frelay-dest": dest, "frelay-tag": tag }, { endStream: false });
    stream.on("error", () => undefined);
    const status = new Promise<number>((resolve) => stream.once("response", (h) => resolve(Number(h[":status"]))));
    return { stream, status };
  }

  /** A silent TCP connection to the fronting listener from `localAddress`; resolves with how it ended. */
  function heldFronting(localAddress: string): Promise<{ socket: net.Socket; closedSoon: Promise<number> }> {
    return new Promise((resolve) => {
      const start = Date.now();
      const socket = net.connect({ host: "127.0.0.1", port: frontPort, localAddress });
      socket.on("error", () => undefined);
      const closedSoon = new Promise<number>((r) => socket.once("close", () => r(Date.now() - start)));
      socket.once("connect", () => resolve({ socket, closedSoon }));
    });
  }

  it("fronting connections without a stream are limited per address, and count against limits.max_connections on both listeners", { timeout: 30000 }, async () => {
    // max_handshakes_per_address 3: a fourth silent connection from one front is closed at once
    const held = await Promise.all([1, 2, 3].map(() => heldFronting("127.0.0.3")));
    const fourth = await heldFronting("127.0.0.3");
    assert.ok((await fourth.closedSoon) < 5000, "the fourth is closed at once, not at timeouts.handshake");
    await relay.waitFor((e) => e["event"] === "handshake_failed" && /too many fronting connections without a stream from 127\.0\.0\.3/.test(String(e["reason"])));
    // max_connections 6: three more from another front fill the relay; a seventh is closed
    held.push(...(await Promise.all([1, 2, 3].map(() => heldFronting("127.0.0.4")))));
    const seventh = await heldFronting("127.0.0.5");
    assert.ok((await seventh.closedSoon) < 5000, "the seventh fronting connection is closed at once");
    await relay.waitFor((e) => e["event"] === "handshake_failed" && e["transport"] === "h2c" && /connection limit \(limits\.max_connections is 6\)/.test(String(e["reason"])));
    // The direct listener counts them too: a party there is told the relay is full.
    await assert.rejects(connect({ ...fx.party("0.user1", "1.user1", relay.address), timeoutMs: 10000 }), /429|closed the connection|ECONNRESET|EPIPE/);
    for (const h of held) h.socket.destroy();
  });

  it("an h2 connection with no open stream is closed after timeouts.h2_idle", { timeout: 30000 }, async () => {
    const before = await openConnections();
    const { session } = await h2Session("2.user1");
    const { status } = request(session, "0.user1", "idle"); // no route: refused, the stream ends
    assert.equal(await status, 403);
    await relay.waitFor((e) => e["event"] === "h2_connection_closed" && /timeouts\.h2_idle/.test(String(e["reason"])));
    await connectionsDropTo(before);
    session.destroy();
  });

  it("a stream on a connection whose certificate expired since its handshake is refused 403", { timeout: 60000 }, async () => {
    const files = relayCaFiles(fx.certsDir);
    const ca = { certPem: fs.readFileSync(files.cert, "utf8"), keyPem: fs.readFileSync(files.key, "utf8") };
    // An EC key (made at once) and an end far enough ahead that the handshake finishes first on
    // a loaded machine, and well before the connection's h2_lifetime (20s).
    const notAfter = new Date(Date.now() + 5_000);
    const shortLived = issueCertificate({ commonName: "0.user1", usage: "client", days: 1, bits: 2048, keyType: "ec", issuer: ca, validity: { notBefore: new Date(Date.now() - 60_000), notAfter } });
    const { session } = await h2Session("0.user1", shortLived);
    try {
      const first = request(session, "1.user1", "exp-a"); // keeps the connection from idling
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "exp-a");
      // Certificates have whole-second dates: wait until this one has surely passed its end.
      while (Date.now() < notAfter.getTime() + 1500) await new Promise((r) => setTimeout(r, 100));
      const second = request(session, "1.user1", "exp-b");
      assert.equal(await second.status, 403);
      first.stream.close();
    } finally {
      session.destroy();
    }
  });

  it("every h2 connection is sent GOAWAY at timeouts.h2_lifetime; its open stream may finish", { timeout: 60000 }, async () => {
    // A reload shortens the lifetime for connections accepted from then on: the suite's 20 s
    // leaves the other tests room, and waiting it out here would cost the run 20 s.
    const reconfigured = async (h2Lifetime: string) => {
      const mark = relay.events.length;
      fx.writeConfig({ ...suiteConfig, timeouts: { ...suiteConfig.timeouts, h2_lifetime: h2Lifetime } });
      await relay.waitFor((e) => relay.events.indexOf(e) >= mark && e["event"] === "reload" && e["result"] === "reloaded", 15_000);
    };
    await reconfigured("3s");
    const { session } = await h2Session("0.user1");
    const start = Date.now();
    try {
      const { stream } = request(session, "1.user1", "lifetime");
      const goaway = new Promise<number>((r) => session.once("goaway", () => r(Date.now() - start)));
      const ms = await goaway;
      assert.ok(ms >= 2500 && ms < 20000, `GOAWAY after ${ms} ms (h2_lifetime 3s)`);
      assert.equal(stream.closed, false, "the open stream is not cut by the GOAWAY");
      stream.close();
    } finally {
      session.destroy();
      await reconfigured("20s");
    }
  });

  it("a reload that revokes an identity closes its h2 connections", { timeout: 60000 }, async () => {
    const before = await openConnections();
    const { session } = await h2Session("3.user1");
    try {
      request(session, "2.user1", "revoked");
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "revoked");
      const revoked = await runCli(["cert", "revoke", "3.user1", "-c", fx.configFile]);
      assert.equal(revoked.code, 0, revoked.stderr);
      await relay.waitFor((e) => e["event"] === "h2_connection_closed" && e["reason"] === "certificate revoked", 30000);
      await connectionsDropTo(before);
    } finally {
      session.destroy();
    }
  });
});

