import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { viaH2c } from "../helpers/h2c-front";
import { readAll } from "../helpers/streams";

describe("end-to-end TLS: each party verifies that its peer is the DestParty it asked for", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let socketPath: string;
  before(async () => {
    socketPath = path.join(fs.mkdtempSync("/tmp/frelay-sock-"), "front.sock");
    ({ fx, relay, close } = await suiteRelay({ fronting: { address: socketPath } }));
  });
  after(() => close());

  for (const [what, impostor] of [
    ["a certificate of another party of the same user", "2.user1"],
    ["a certificate from another user's CA", "0.user2"],
  ] as const) {
    it(`refuses a peer that shows ${what}, in both roles`, async () => {
      // 1.user1's relay certificate (the relay lets it in as 1.user1) but someone else's
      // end-to-end certificate: the relay cannot tell, the peer must.
      const bad = fx.party(impostor, "0.user1", relay.address);
      const honest1 = fx.party("1.user1", "0.user1", relay.address);
      const mixed = { ...honest1, partyCert: bad.partyCert, partyKey: bad.partyKey };
      for (const honestWaits of [true, false]) {
        const honest = { ...fx.party("0.user1", "1.user1", relay.address), timeoutMs: 10000 };
        // The waiter's own `waiting` line, logged after this point (not a previous round's).
        const mark = relay.events.length;
        const first = honestWaits ? connect(honest) : connect({ ...mixed, timeoutMs: 10000 });
        const waiter = honestWaits ? "0.user1" : "1.user1";
        await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === waiter && relay.events.indexOf(e) >= mark);
        const second = honestWaits ? connect({ ...mixed, timeoutMs: 10000 }) : connect(honest);
        const [h, m] = honestWaits ? [first, second] : [second, first];
        await assert.rejects(h, /end-to-end (peer is not 1\.user1|TLS with 1\.user1 failed)/);
        await m.then((c) => c.socket.destroy(), () => undefined);
      }
    });
  }

  it("fronting on a unix socket: a fronted party pairs through it", async () => {
    const header = { "x-ssl-client-cert": encodeURIComponent(fs.readFileSync(path.join(fx.certsDir, "parties", "2.user1", "relay.pem"), "utf8")) };
    const fronted = viaH2c(`http://localhost`, fx.party("2.user1", "3.user1", ""), header, "/frelay", socketPath);
    const direct = connect({ ...fx.party("3.user1", "2.user1", relay.address), timeoutMs: 10000 });
    const [f, d] = await Promise.all([fronted, direct]);
    f.socket.end("through a unix socket");
    assert.equal((await readAll(d.socket)).toString(), "through a unix socket");
    d.socket.end();
    assert.equal(fs.statSync(socketPath).isSocket(), true);
  });
});
