import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { connect, type ConnectOptions } from "../../src/client/connect";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";
import { keepFlowing } from "../helpers/flowing";
import { waitForStatus } from "../helpers/control-state";

/** Resolves with how long the relay took to close a connection that `act` started. */
function timeToClose(port: number, act: (s: net.Socket) => void, localAddress = "127.0.0.1"): Promise<number> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect({ host: "127.0.0.1", port, localAddress }, () => act(s));
    s.on("error", () => undefined);
    s.on("close", () => resolve(Date.now() - t0));
    s.resume();
  });
}

/** A TLS client that completes its handshake and then sends `request` one byte every `gapMs`. */
function dripRequest(fx: Fixture, relay: RunningRelay, gapMs: number): Promise<number> {
  const p = fx.party("0.user1", "1.user1", relay.address);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = tls.connect({ host: "127.0.0.1", port: relay.port, ca: p.relayCa, cert: p.relayCert, key: p.relayKey });
    const request = Buffer.from(JSON.stringify({ DestParty: p.dest, Tag: "drip" }));
    let i = 0;
    let timer: NodeJS.Timeout | undefined;
    s.on("secureConnect", () => {
      timer = setInterval(() => i < request.length && s.write(request.subarray(i, ++i)), gapMs);
    });
    s.on("error", () => undefined);
    s.on("close", () => {
      clearInterval(timer);
      resolve(Date.now() - t0);
    });
    s.resume();
  });
}

describe("abuse: slow clients, floods and per-address limits", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  const controlSocket = () => path.join(fx.dir, "frelay.sock");
  let close: () => Promise<void>;
  before(async () => {
    ({ fx, relay, close } = await suiteRelay({
      timeouts: { handshake: "1s", pair: "5s", idle: "0s", drain: "1s" },
      limits: { max_connections: 12, max_waiting_per_identity: 64, max_handshakes_per_address: 4 },
    }));
  });
  after(() => close());

  const party = (id: string, dest: string, tag: string, localAddress: string): ConnectOptions => ({ ...fx.party(id, dest, relay.address, tag), localAddress, timeoutMs: 10_000 });

  it("silent, ClientHello-dripping and request-dripping clients are all closed at timeouts.handshake", async () => {
    const closes = await Promise.all([
      timeToClose(relay.port, () => undefined, "127.0.0.21"),
      // A ClientHello-sized trickle: one byte every 100 ms never completes a record in time.
      timeToClose(relay.port, (s) => {
        const hello = Buffer.from([22, 3, 1, 2, 0, 1, 0, 1, 252, 3, 3]);
        let i = 0;
        const t = setInterval(() => (i < hello.length && !s.destroyed ? s.write(hello.subarray(i, ++i)) : clearInterval(t)), 100);
        s.on("close", () => clearInterval(t));
      }, "127.0.0.22"),
      dripRequest(fx, relay, 150),
    ]);
    for (const ms of closes) assert.ok(ms >= 900 && ms < 3000, `closed after ${ms} ms, expected about 1 s`);
    const reasons = relay.events.filter((e) => e["event"] === "handshake_failed").map((e) => String(e["reason"]));
    assert.ok(reasons.filter((r) => r.includes("no request within 1s")).length >= 3, reasons.join("; "));
  });

  it("one address gets max_handshakes_per_address unauthenticated connections; others are unaffected", async () => {
    // Four silent connections from 127.0.0.31 take its slots; the fifth is closed at once.
    const silent = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<net.Socket>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port: relay.port, localAddress: "127.0.0.31" }, () => resolve(s));
        s.on("error", () => undefined);
      })),
    );
    // The relay's own count, not a pause: all four are accepted before the fifth is tried.
    await waitForStatus(controlSocket(), (s) => s["connections"] === 4);
    const fifth = await timeToClose(relay.port, () => undefined, "127.0.0.31");
    assert.ok(fifth < 500, `the fifth connection from one address should be closed at once (took ${fifth} ms)`);
    await relay.waitFor((e) => e["event"] === "handshake_failed" && String(e["reason"]).includes("limits.max_handshakes_per_address is 4"));
    // Parties from other addresses pair meanwhile.
    const [a, b] = await pair(party("0.user1", "1.user1", "pa", "127.0.0.32"), party("1.user1", "0.user1", "pa", "127.0.0.33"));
    a.socket.destroy();
    b.socket.destroy();
    // Slots come back when the connections go: the same address pairs afterwards.
    for (const s of silent) s.destroy();
    await waitForStatus(controlSocket(), (s) => s["connections"] === 0);
    const [c, d] = await pair(party("0.user1", "1.user1", "pb", "127.0.0.31"), party("1.user1", "0.user1", "pb", "127.0.0.31"));
    c.socket.destroy();
    d.socket.destroy();
  });

  it("a flood above max_connections is refused (429 or closed) while an established session keeps flowing", async (t) => {
    const [a, b] = await pair(party("2.user1", "3.user1", "busy", "127.0.0.41"), party("3.user1", "2.user1", "busy", "127.0.0.42"));
    const flow = keepFlowing(a.socket, b.socket);
    // A failed assertion must not leave the session's sockets holding the test process open.
    t.after(() => {
      a.socket.destroy();
      b.socket.destroy();
    });
    // 24 parties, each from its own address (the per-address limit is not what is tested here),
    // all waiting for peers that never come: 12 connections is the limit, 2 are the session's.
    const outcomes = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        connect({ ...fx.party("0.user1", "1.user1", relay.address, `flood${i}`), localAddress: `127.0.1.${i + 1}`, timeoutMs: 8000 }).then(
          (c) => (c.socket.destroy(), "paired"),
          (e: Error & { status?: number }) => (e.status === 429 ? "429" : /closed the connection|ECONNRESET|EPIPE|reply/.test(e.message) ? "closed" : e.status === 408 ? "408" : `other: ${e.message}`),
        ),
      ),
    );
    const refused = outcomes.filter((o) => o === "429" || o === "closed").length;
    assert.ok(refused >= 12, `expected at least 12 refused, got ${JSON.stringify(outcomes)}`);
    assert.ok(outcomes.every((o) => o === "429" || o === "closed" || o === "408"), JSON.stringify(outcomes));
    const result = await flow.stop();
    assert.ok(result.intact && result.bytes > 0, `the session lost bytes during the flood (${result.bytes} arrived)`);
    // And the relay takes new pairs once the flood is gone.
    const [c, d] = await pair(party("0.user1", "1.user1", "after", "127.0.0.43"), party("1.user1", "0.user1", "after", "127.0.0.44"));
    c.socket.destroy();
    d.socket.destroy();
  });
});
