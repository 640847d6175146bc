import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "../../src/client/connect";
import { RefusalError } from "../../src/errors";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { refusalFor, waitingRawParty } from "../helpers/raw-party";

describe("refusals: one TLS record {Mode:0,Code,Error} and a close", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay({ timeouts: { handshake: "2s", pair: "1s", idle: "0s", drain: "1s" }, limits: { max_connections: 1000, max_waiting_per_identity: 2 } })));
  after(async () => {
    await close();
  });

  it("403 when no route joins the two identities", async () => {
    const r = await refusalFor(fx.party("0.user1", "2.user1", relay.address));
    assert.deepEqual([r.Mode, r.Code], [0, 403]);
    assert.match(r.Error, /no route between 0\.user1 and 2\.user1/);
  });

  it("403 for a party naming itself", async () => {
    const r = await refusalFor(fx.party("0.user1", "0.user1", relay.address));
    assert.equal(r.Code, 403);
    assert.match(r.Error, /itself/);
  });

  it("403 across users even when the party name matches", async () => {
    const r = await refusalFor(fx.party("0.user2", "1.user1", relay.address));
    assert.equal(r.Code, 403);
  });

  it("a wildcard route admits exactly one leftmost label", async () => {
    const [hub, leaf] = await Promise.all([
      connect({ ...fx.party("hub.flock", "a.flock", relay.address), timeoutMs: 10000 }),
      connect({ ...fx.party("a.flock", "hub.flock", relay.address), timeoutMs: 10000 }),
    ]);
    hub.socket.destroy();
    leaf.socket.destroy();
    const r = await refusalFor(fx.party("a.flock", "x.y.flock", relay.address));
    assert.equal(r.Code, 403);
  });

  it("408 when the peer does not arrive within timeouts.pair", async () => {
    const r = await refusalFor(fx.party("0.user1", "1.user1", relay.address, "lonely"));
    assert.deepEqual([r.Mode, r.Code], [0, 408]);
    assert.match(r.Error, /1\.user1 did not connect within 1s/);
  });

  it("the library client reports a refusal as one clear error", async () => {
    await assert.rejects(connect({ ...fx.party("0.user1", "3.user1", relay.address), timeoutMs: 10000 }), (err: unknown) => {
      // A typed refusal carrying the relay's status, not a status cast onto a plain Error.
      assert.ok(err instanceof RefusalError, String(err));
      assert.equal(err.code, "FRELAY_ERR_REFUSED");
      assert.equal(err.status, 403);
      assert.match(err.reason, /^no route between 0\.user1 and 3\.user1/);
      return true;
    });
  });

  for (const [name, payload] of [
    ["not JSON", "hello relay"],
    ["a JSON array", '["1.user1"]'],
    ["no DestParty", '{"Tag":"x"}'],
    ["a DestParty that is not an identity", '{"DestParty":"../etc"}'],
    ["a non-string Tag", '{"DestParty":"1.user1","Tag":5}'],
    ["more than 4 KiB", `{"DestParty":"1.user1","Tag":"${"x".repeat(5000)}"}`],
    ["data after the request", '{"DestParty":"1.user1"}GET / HTTP/1.1'],
  ] as const) {
    it(`400 for a malformed request: ${name}`, async () => {
      const r = await refusalFor(fx.party("0.user1", "1.user1", relay.address), payload);
      assert.deepEqual([r.Mode, r.Code], [0, 400]);
      assert.match(r.Error, /malformed request/);
    });
  }

  it("accepts a request split over several TLS records, with unknown fields and a trailing newline", async () => {
    const s = fx.party("0.user1", "1.user1", relay.address, "split");
    const parts = ['{"DestPa', 'rty":"1.user1","Extra":{"a":[1,"}"]},', '"Tag":"split"}\n'];
    const answer = rawExchangeInPieces(s, parts);
    await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "split");
    // The hand-driven party leaves after its reply, so the peer's end-to-end TLS cannot finish.
    const peer = connect({ ...fx.party("1.user1", "0.user1", relay.address, "split"), timeoutMs: 10000 }).catch(() => undefined);
    assert.equal((JSON.parse(await answer) as { Mode: number }).Mode, 2);
    await peer;
  });

  it("400 for a waiting party that sends data before its reply", async () => {
    const sock = await waitingRawParty(fx.party("2.user1", "3.user1", relay.address, "eager"));
    await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "eager");
    const answer = new Promise<string>((resolve) => {
      let text = "";
      sock.on("data", (c: Buffer) => (text += c.toString()));
      sock.on("close", () => resolve(text));
    });
    sock.write("too early");
    const r = JSON.parse(await answer) as { Code: number; Error: string };
    assert.equal(r.Code, 400);
    assert.match(r.Error, /before the relay's reply/);
  });

  it("429 beyond max_waiting_per_identity", async () => {
    const held = [await waitingRawParty(fx.party("2.user1", "3.user1", relay.address, "many")), await waitingRawParty(fx.party("2.user1", "3.user1", relay.address, "many"))];
    await relay.waitFor(() => relay.events.filter((x) => x["event"] === "waiting" && x["tag"] === "many").length >= 2);
    const r = await refusalFor(fx.party("2.user1", "3.user1", relay.address, "many"));
    assert.equal(r.Code, 429);
    for (const h of held) h.destroy();
  });
});

/** Sends each piece as its own TLS record (a write per piece after the previous has flushed). */
async function rawExchangeInPieces(s: ReturnType<Fixture["party"]>, pieces: string[]): Promise<string> {
  const tls = await import("node:tls");
  const port = Number(s.relay.slice(s.relay.lastIndexOf(":") + 1));
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: "127.0.0.1", port, ca: s.relayCa, cert: s.relayCert, key: s.relayKey });
    let text = "";
    sock.on("error", reject);
    sock.on("secureConnect", () => {
      void (async () => {
        for (const p of pieces) {
          await new Promise<void>((r) => sock.write(p, () => r()));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
    });
    // Only the reply record is read: the socket is dropped at the first data.
    sock.on("data", (c: Buffer) => {
      text += c.toString();
      if (text.includes("}")) {
        sock.destroy();
        resolve(text);
      }
    });
  });
}
