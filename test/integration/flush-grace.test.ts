import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type * as net from "node:net";
import { FLUSH_GRACE_MS } from "../../src/datapath/session-splice";
import { makeFixture, type Fixture } from "../helpers/fixture";
import type { RunningRelay } from "../helpers/cli";
import { dataPathCases, rawSession, relayOnPath } from "../helpers/data-paths";
import { readAll, sha256 } from "../helpers/streams";

const KiB = 1024;
const fx: Fixture = makeFixture([["0", "user1"], ["1", "user1"]]);
after(() => fx.cleanup());

const once = (s: net.Socket, event: "end" | "finish", timeoutMs = 15_000) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    s.once(event, () => (clearTimeout(timer), resolve()));
  });

/**
 * The end of a session on either path: once both parties have sent their FIN, the relay does
 * not cut the session at once but lets the last bytes still on their way reach a reader that
 * has not taken them yet (bounded by the flush grace); the session then ends as done, counted
 * exactly. The grace's own cut (a reader that never reads, after FLUSH_GRACE_MS) is not waited for here.
 */
for (const dp of dataPathCases()) describe(`flush at the end of a session (${dp.name} data path)`, { skip: dp.skip, timeout: 120_000 }, () => {
  let relay: RunningRelay;
  before(async () => (relay = await relayOnPath(fx, dp, `flush-${dp.name}`)));
  after(() => relay.stop());

  it("a party that sent its FIN before reading anything still gets every byte its peer sent after, and the session ends done", async () => {
    const { a, b } = await rawSession(fx, relay, "flush");
    // b has read nothing (dialRelay leaves it paused) and ends its side first.
    const aSawEnd = once(a, "end");
    a.resume();
    b.end();
    await aSawEnd; // the relay ended b → a: only a → b is left
    // Small enough to fit in the buffers between a and b (sockets' and the relay's) while b
    // reads nothing, so that a's 'finish' comes without b's help: 8 MiB did only when the
    // kernel had grown its buffers, and timed out on a loaded machine; 64 KiB timed out once on
    // Node 26 (a receive window shrinks while nobody reads). 16 KiB fits the smallest defaults.
    const tail = crypto.randomBytes(16 * KiB + 7);
    const sent = once(a, "finish");
    a.end(tail);
    await sent; // a has handed everything and its FIN to its kernel; b is still not reading
    const started = Date.now();
    const got = readAll(b, 60_000);
    b.resume();
    assert.equal(sha256(await got), sha256(tail));
    const closed = await relay.waitFor((e) => e["event"] === "closed" && e["tag"] === "flush", 15_000);
    assert.equal(closed["how"], "done");
    assert.equal(closed["bytes_a_to_b"], tail.length);
    assert.equal(closed["bytes_b_to_a"], 0);
    assert.ok(Date.now() - started < FLUSH_GRACE_MS, "ended by delivering its last bytes, not by the grace's cut");
  });
});
