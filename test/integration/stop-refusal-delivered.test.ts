import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { Fixture } from "../helpers/fixture";
import { runCli, suiteRelay, type RunningRelay } from "../helpers/cli";
import { waitingRawParty } from "../helpers/raw-party";
import { readAll } from "../helpers/streams";

/**
 * `frelay stop` with nothing to drain: the waiting parties it refuses (503) get their refusal
 * before the process is gone, on the stream protocol and on HTTP/2, rather than a bare close.
 */
describe("stop: a waiting party reads its 503 before the relay exits", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => {
    ({ fx, relay, close } = await suiteRelay({ timeouts: { handshake: "5s", pair: "30s", idle: "0s", drain: "5s" } }));
  });
  after(() => close());

  it("stream and HTTP/2 waiters get 503 from frelay stop, with no session open", { timeout: 60_000 }, async () => {
    const raw = await waitingRawParty(fx.party("0.user1", "1.user1", relay.address));
    const rawReply = readAll(raw, 20_000);
    const h2p = fx.party("2.user1", "3.user1", relay.address);
    const session = http2.connect(`https://${relay.address}`, { ca: h2p.relayCa, cert: h2p.relayCert, key: h2p.relayKey });
    session.on("error", () => undefined);
    const req = session.request({ ":method": "POST", ":path": "/frelay/connect", "frelay-dest": "3.user1", "frelay-tag": "" });
    req.on("error", () => undefined);
    const h2Reply = new Promise<{ status: number | undefined; body: string }>((resolve) => {
      let status: number | undefined;
      let body = "";
      req.on("response", (h) => (status = Number(h[":status"])));
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("close", () => resolve({ status, body }));
    });
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "0.user1");
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "2.user1");
    const stopped = await runCli(["stop", "-c", fx.configFile]);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.notEqual(relay.proc.exitCode, null, "frelay stop returned before the relay exited");
    const text = (await rawReply).toString();
    assert.match(text, /"Code":503/, `the stream party read ${JSON.stringify(text)} instead of its 503`);
    const h2 = await h2Reply;
    session.destroy();
    assert.equal(h2.status, 503, `the HTTP/2 party got ${String(h2.status)} (${JSON.stringify(h2.body)})`);
    assert.match(h2.body, /shutting down/);
  });
});
