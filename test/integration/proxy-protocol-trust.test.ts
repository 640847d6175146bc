import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { readAll } from "../helpers/streams";

/** PROXY v1 line naming `client` (IPv4 or IPv6) as the source. */
function v1(client: string): Buffer {
  const fam = net.isIPv6(client) ? "TCP6" : "TCP4";
  return Buffer.from(`PROXY ${fam} ${client} ${fam === "TCP6" ? "::1" : "127.0.0.1"} 4444 6000\r\n`);
}

/** A raw TCP connection from `from`, after `header` is written (or none), left open. */
function hold(port: number, from: string, header?: Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress: from }, () => {
      if (header) s.write(header);
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** Header, then mutual TLS and a request with no route: a reply means the relay served it. */
function served(port: number, from: string, f: Fixture, relayAddress: string, header: Buffer): Promise<string> {
  const s = f.party("0.user1", "2.user1", relayAddress);
  return new Promise((resolve) => {
    const raw = net.connect({ host: "127.0.0.1", port, localAddress: from }, () => {
      raw.write(header);
      const t = tls.connect({ socket: raw, ca: s.relayCa, cert: s.relayCert, key: s.relayKey, host: "127.0.0.1" });
      t.on("secureConnect", () => t.write(JSON.stringify({ DestParty: s.dest })));
      t.on("error", () => resolve("closed"));
      readAll(t).then((b) => resolve(b.toString() || "closed"), () => resolve("closed"));
    });
    raw.on("error", () => resolve("closed"));
  });
}

/** Resolves once the relay has closed `s`. */
const closedByRelay = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once("close", () => r())));

/**
 * PROXY protocol: the header is believed only from proxy_protocol_from; the per-address
 * handshake limit counts the real TCP peer from accept (IPv6 per /64).
 */
describe("proxy_protocol_from: who may name the client, and what the per-address limit counts", { timeout: 120_000 }, () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  const held: net.Socket[] = [];
  before(async () => {
    ({ fx, relay, close } = await suiteRelay({
      // proxy_protocol_from left at its default, ["127.0.0.1"].
      proxy_protocol: true,
      limits: { max_handshakes_per_address: 3 },
      timeouts: { handshake: "30s", pair: "3s", idle: "0s", drain: "2s" },
    }));
  });
  after(async () => {
    for (const s of held) s.destroy();
    await close();
  });
  /** Closes the held connections and waits until the relay has logged each one gone (slot freed). */
  const release = async () => {
    const all = held.splice(0);
    const seen = relay.events.length;
    for (const s of all) s.destroy();
    const gone = () => relay.events.slice(seen).filter((e) => e["event"] === "handshake_failed" && /closed before/.test(String(e["reason"]))).length;
    await relay.waitFor(() => gone() >= all.length);
  };

  it("a header from a peer not in the list is not believed: the connection is closed at accept", async () => {
    const answer = await served(relay.port, "127.0.0.2", fx, relay.address, v1("203.0.113.9"));
    assert.equal(answer, "closed");
    const failed = await relay.waitFor((e) => e["event"] === "handshake_failed" && /proxy_protocol_from/.test(String(e["reason"])));
    assert.match(String(failed["reason"]), /^127\.0\.0\.2 is not in proxy_protocol_from/);
    assert.equal(failed["remote"], `127.0.0.2:${String(failed["remote"]).split(":")[1]}`, "logged as the real peer, not the claimed one");
    assert.ok(!relay.events.some((e) => String(e["remote"]).startsWith("203.0.113.9")), "the claimed address was never used");
    // The listed front is served, and its client's address is the one logged.
    assert.match(await served(relay.port, "127.0.0.1", fx, relay.address, v1("198.51.100.4")), /"Code":403/);
    const refused = await relay.waitFor((e) => e["event"] === "refused" && String(e["remote"]).startsWith("198.51.100.4:"));
    assert.equal(refused["identity"], "0.user1");
  });

  it("connections that have not sent their header count against the real peer from accept", async () => {
    for (let i = 0; i < 3; i++) held.push(await hold(relay.port, "127.0.0.1"));
    const fourth = await hold(relay.port, "127.0.0.1");
    await closedByRelay(fourth);
    const failed = await relay.waitFor((e) => e["event"] === "handshake_failed" && /too many connections in handshake from 127\.0\.0\.1 /.test(String(e["reason"])));
    assert.match(String(failed["reason"]), /max_handshakes_per_address is 3/);
    await release();
  });

  it("behind the trusted front, clients count per address, IPv6 per /64", async () => {
    for (const c of ["2001:db8:0:7::1", "2001:db8:0:7::2", "2001:db8:0:7:ffff::3"]) held.push(await hold(relay.port, "127.0.0.1", v1(c)));
    // Same /64, another address: over the limit.
    const seen = relay.events.length;
    const fourth = await hold(relay.port, "127.0.0.1", v1("2001:db8:0:7::99"));
    await closedByRelay(fourth);
    const failed = await relay.waitFor((e) => relay.events.indexOf(e) >= seen && e["event"] === "handshake_failed");
    assert.match(String(failed["reason"]), /too many connections in handshake from 2001:db8:0:7::\/64/);
    // Another /64 and an IPv4 client are not affected.
    assert.match(await served(relay.port, "127.0.0.1", fx, relay.address, v1("2001:db8:0:8::1")), /"Code":403/);
    assert.match(await served(relay.port, "127.0.0.1", fx, relay.address, v1("192.0.2.1")), /"Code":403/);
    await release();
  });
});
