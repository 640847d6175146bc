import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import type { Fixture } from "../helpers/fixture";
import { freePort, suiteRelay, type RunningRelay } from "../helpers/cli";
import { viaH2c } from "../helpers/h2c-front";
import { h2RequestBytes } from "../helpers/raw-h2";

/**
 * The fronting listener's trust boundary: who counts as a front is decided at accept from the
 * TCP peer's address (127.0.0.2 plays an untrusted host on this machine), and what a front
 * forwards is taken only in the forms a front writes.
 */
describe("fronting trust is decided at accept", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let port: number;
  let pem: (identity: string) => string;
  before(async () => {
    port = await freePort();
    ({ fx, relay, close } = await suiteRelay({ fronting: { address: `127.0.0.1:${port}`, trusted_proxies: ["127.0.0.1", "10.9.0.0/16"] } }));
    pem = (identity) => encodeURIComponent(fs.readFileSync(path.join(fx.certsDir, "parties", identity, "relay.pem"), "utf8"));
  });
  after(() => close());

  it("an untrusted peer that sends a forged certificate header and resets at once never pairs; it is named in the log once", { timeout: 60000 }, async () => {
    const victim = connect({ ...fx.party("1.user1", "0.user1", relay.address), timeoutMs: 30000 });
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "1.user1");
    const forged = h2RequestBytes([
      [":method", "POST"],
      [":scheme", "http"],
      [":authority", "frelay"],
      [":path", "/frelay/connect"],
      ["frelay-dest", "1.user1"],
      ["frelay-tag", ""],
      ["x-ssl-client-cert", pem("0.user1")],
    ]);
    const ATTACKS = 40;
    for (let i = 0; i < ATTACKS; i++) {
      const s = net.connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
      s.on("error", () => undefined);
      await new Promise<void>((resolve) => {
        s.once("connect", () => {
          s.write(forged);
          s.resetAndDestroy(); // SO_LINGER 0: the relay sees RST, and the address is gone
        });
        s.once("close", () => resolve());
      });
    }
    // The victim is still waiting: the real 0.user1, through the trusted front, gets it.
    const [a, b] = await Promise.all([victim, viaH2c(`http://127.0.0.1:${port}`, fx.party("0.user1", "1.user1", ""), { "x-ssl-client-cert": pem("0.user1") })]);
    assert.equal(a.mode, 2);
    assert.equal(b.mode, 1);
    a.socket.destroy();
    b.socket.destroy();
    const paired = relay.events.filter((e) => e["event"] === "paired");
    assert.equal(paired.length, 1, `only the real pair is made: ${JSON.stringify(paired)}`);
    assert.ok(!relay.events.some((e) => e["remote"] === "unix"), "no stream was taken for one from the unix socket");
    // One line for the address (plus one if a reset came before its address could be read at
    // accept: "unknown" is untrusted too), never one per connection.
    const named = relay.events.filter((e) => e["event"] === "handshake_failed" && e["transport"] === "h2c");
    assert.ok(named.length >= 1 && named.length <= 2, `lines for the untrusted peer: ${JSON.stringify(named)}`);
    for (const line of named) {
      assert.ok(line["remote"] === "127.0.0.2" || line["remote"] === "unknown", String(line["remote"]));
      assert.match(String(line["reason"]), /is not in fronting\.trusted_proxies; connection closed at accept/);
    }
  });

  it("an untrusted peer is closed before it gets a byte of HTTP/2", { timeout: 20000 }, async () => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress: "127.0.0.2" });
    const got: Buffer[] = [];
    s.on("data", (c: Buffer) => got.push(c));
    s.on("error", () => undefined);
    s.once("connect", () => s.write(h2RequestBytes([[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/"]])));
    await new Promise((r) => s.once("close", r));
    assert.equal(Buffer.concat(got).length, 0, "not even the server's SETTINGS");
  });

  it("a request carrying two certificate headers is refused 400, whatever the first says", { timeout: 20000 }, async () => {
    const twice = { "x-ssl-client-cert": [pem("0.user1"), pem("2.user1")] } as unknown as Record<string, string>;
    await assert.rejects(viaH2c(`http://127.0.0.1:${port}`, fx.party("0.user1", "1.user1", ""), twice), /^Error: 400 malformed request: 2 x-ssl-client-cert headers/);
  });

  it("the client address is the rightmost x-forwarded-for entry that is not a trusted proxy, never one the client wrote", { timeout: 20000 }, async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", () => undefined);
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/frelay/connect",
        "frelay-dest": "3.user1",
        "x-ssl-client-cert": pem("2.user1"),
        // a client wrote 6.6.6.6; the first proxy appended 192.0.2.7; a trusted one appended 10.9.0.5
        "x-forwarded-for": "6.6.6.6, 192.0.2.7, 10.9.0.5",
      }, { endStream: false });
      stream.on("error", () => undefined);
      const waiting = await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "2.user1");
      assert.equal(waiting["remote"], "192.0.2.7");
    } finally {
      session.destroy();
    }
  });
});
