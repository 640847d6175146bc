import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { readAll } from "../helpers/streams";
import { v2 } from "../helpers/proxy-header";

/** A party that sends `header` on TCP, then mutual TLS and a request; returns the relay's answer. */
function throughProxy(relayPort: number, s: ReturnType<Fixture["party"]>, header: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const raw = net.connect({ host: "127.0.0.1", port: relayPort }, () => {
      raw.write(header);
      const t = tls.connect({ socket: raw, ca: s.relayCa, cert: s.relayCert, key: s.relayKey, host: "127.0.0.1" });
      t.on("secureConnect", () => t.write(JSON.stringify({ DestParty: s.dest })));
      t.on("error", () => resolve("error"));
      readAll(t).then((b) => resolve(b.toString()), () => resolve("closed"));
    });
    raw.on("error", () => resolve("error"));
  });
}

describe("proxy_protocol: a PROXY v1/v2 header before TLS names the real client", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay({ proxy_protocol: true })));
  after(() => close());

  it("v2 (with TLVs and CRC32C): the request is served and the log shows the proxied address", async () => {
    const alpn = Buffer.concat([Buffer.from([0x01, 0x00, 0x08]), Buffer.from("http/1.1")]);
    const answer = await throughProxy(relay.port, fx.party("0.user1", "2.user1", relay.address), v2({ tlvs: [alpn], crc: true }));
    assert.equal((JSON.parse(answer) as { Code: number }).Code, 403);
    const refused = await relay.waitFor((e) => e["event"] === "refused" && e["identity"] === "0.user1");
    assert.equal(refused["remote"], "203.0.113.7:12345");
  });

  it("v1: likewise", async () => {
    const answer = await throughProxy(relay.port, fx.party("1.user1", "2.user1", relay.address), Buffer.from("PROXY TCP4 198.51.100.9 127.0.0.1 4444 6000\r\n"));
    assert.equal((JSON.parse(answer) as { Code: number }).Code, 403);
    const refused = await relay.waitFor((e) => e["event"] === "refused" && e["identity"] === "1.user1");
    assert.equal(refused["remote"], "198.51.100.9:4444");
  });

  it("a connection without a valid header is dropped", async () => {
    const answer = await throughProxy(relay.port, fx.party("0.user1", "1.user1", relay.address), Buffer.alloc(0));
    assert.ok(answer === "error" || answer === "closed" || answer === "", `dropped (${answer})`);
    const failed = await relay.waitFor((e) => e["event"] === "handshake_failed" && /PROXY/.test(String(e["reason"])));
    assert.match(String(failed["reason"]), /no PROXY protocol header/);
  });
});
