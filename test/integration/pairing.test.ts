import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair, waitingRawParty } from "../helpers/raw-party";
import { readAll, sha256 } from "../helpers/streams";
import { waitForStatus } from "../helpers/control-state";

describe("pairing through the real relay process", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay()));
  after(async () => {
    await close();
  });

  it("relays 1 MiB+ each way byte-exact, and assigns Mode 2 to the waiter, Mode 1 to the arriving party", async () => {
    const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
    assert.equal(a.mode, 2);
    assert.equal(b.mode, 1);
    const dataA = crypto.randomBytes(1024 * 1024 + 12345);
    const dataB = crypto.randomBytes(1536 * 1024 + 7);
    const gotB = readAll(b.socket);
    const gotA = readAll(a.socket);
    a.socket.end(dataA);
    b.socket.end(dataB);
    assert.equal(sha256(await gotB), sha256(dataA));
    assert.equal(sha256(await gotA), sha256(dataB));
    const closed = await relay.waitFor((e) => e["event"] === "closed" && e["a"] === "0.user1");
    assert.equal(closed["how"], "done");
    assert.ok(Number(closed["bytes_a_to_b"]) > dataA.length, "byte counts include the end-to-end TLS overhead");
  });

  it("runs two pairs at once without mixing their streams", async () => {
    const [[a, b], [c, d]] = await Promise.all([
      pair(fx.party("0.user1", "1.user1", relay.address, "x"), fx.party("1.user1", "0.user1", relay.address, "x")),
      pair(fx.party("2.user1", "3.user1", relay.address), fx.party("3.user1", "2.user1", relay.address)),
    ]);
    const d1 = crypto.randomBytes(300_000);
    const d2 = crypto.randomBytes(300_000);
    const got1 = readAll(b.socket);
    const got2 = readAll(d.socket);
    a.socket.end(d1);
    c.socket.end(d2);
    assert.equal(sha256(await got1), sha256(d1));
    assert.equal(sha256(await got2), sha256(d2));
    b.socket.end();
    d.socket.end();
  });

  it("pairs waiting connections with the same (identity, dest, tag) first in, first out", async () => {
    // Each waiter dials only once the previous one is logged waiting: the arrival order is
    // certain before the peers come (dialled together, the three could arrive in any order).
    const waiters: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      const mark = relay.events.length;
      const p = connect({ ...fx.party("0.user1", "1.user1", relay.address, "fifo"), timeoutMs: 15000 });
      waiters.push(p.then((c) => c.socket.end(`waiter-${i}`)));
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "fifo" && relay.events.indexOf(e) >= mark);
    }
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const peer = await connect({ ...fx.party("1.user1", "0.user1", relay.address, "fifo"), timeoutMs: 15000 });
      order.push((await readAll(peer.socket)).toString());
      peer.socket.end();
    }
    assert.deepEqual(order, ["waiter-0", "waiter-1", "waiter-2"]);
    await Promise.all(waiters);
  });

  it("forgets a waiting party that disconnects, so the next peer is not paired with it", async () => {
    const gone = await waitingRawParty(fx.party("2.user1", "3.user1", relay.address, "gone"));
    await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === "gone");
    const before = relay.events.length;
    gone.destroy(); // drop the TCP connection without a word
    // The relay's own word that it forgot the waiter (its waiting table is empty again).
    await waitForStatus(path.join(fx.dir, "frelay.sock"), (st) => st["waiting"] === 0);
    const late = connect({ ...fx.party("3.user1", "2.user1", relay.address, "gone"), timeoutMs: 15000 });
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "3.user1" && e["tag"] === "gone");
    assert.ok(!relay.events.slice(before).some((e) => e["event"] === "paired" && e["tag"] === "gone"), "no pairing with the departed party");
    const fresh = await connect({ ...fx.party("2.user1", "3.user1", relay.address, "gone"), timeoutMs: 15000 });
    const other = await late;
    fresh.socket.end("hello");
    assert.equal((await readAll(other.socket)).toString(), "hello");
    other.socket.end();
  });
});

