import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { PairingCore, type RelayPolicy } from "../../../src/relay/pairing-core";
import type { PendingParty, PartyRequest, RawStream } from "../../../src/relay/party";
import { RouteTable } from "../../../src/relay/routes";
import { silentLogger } from "../../../src/log/logger";

/**
 * The pairing core on its own, with parties as a transport presents them: what it replies to
 * whom, in what order, and who is paired with whom. (The transports and the wire are covered
 * by the integration tests; here the order is exact, with no network timing in between.)
 */
interface TestParty extends PendingParty {
  readonly name: string;
  readonly replies: (number | string)[];
  gone(): void;
}

function policy(over: Partial<RelayPolicy> = {}): RelayPolicy {
  return { routes: new RouteTable([["0.u", "1.u"]]), pairMs: 60_000, idleMs: 0, flushGraceMs: 30_000, maxWaitingPerIdentity: 8, isRevoked: () => false, ...over };
}

function party(name: string, identity: string, dest: string, journal: string[], tag = ""): TestParty {
  const request: PartyRequest = { identity, dest, tag, remote: "127.0.0.1:1", transport: "stream", certSerial: "01" };
  const goneCallbacks: (() => void)[] = [];
  const replies: (number | string)[] = [];
  return {
    name,
    request,
    replies,
    refuse(code) {
      replies.push(code);
      journal.push(`${name}:refused ${code}`);
    },
    async accept(mode, notBefore): Promise<RawStream> {
      if (notBefore) await notBefore;
      replies.push(`Mode ${mode}`);
      journal.push(`${name}:Mode ${mode}`);
      return { stream: new PassThrough(), leftover: Buffer.alloc(0) };
    },
    onGone(cb) {
      goneCallbacks.push(cb);
    },
    gone() {
      for (const cb of goneCallbacks) cb();
    },
  };
}

/** Resolves once `n` pairs are reported. */
function pairsOf(relay: PairingCore, n: number): Promise<[string, string][]> {
  const seen: [string, string][] = [];
  return new Promise((resolve) => {
    relay.on("paired", (a, b) => {
      seen.push([a.remote + a.identity, b.remote + b.identity]);
      if (seen.length === n) resolve(seen);
    });
  });
}

describe("pairing core: order and fairness", () => {
  it("Mode 1 goes to the party that arrived, and only once it is written Mode 2 to the waiter", async () => {
    const journal: string[] = [];
    const relay = new PairingCore(policy(), silentLogger);
    const waiter = party("w", "0.u", "1.u", journal);
    const arriving = party("a", "1.u", "0.u", journal);
    relay.submit(waiter);
    assert.equal(relay.waitingCount, 1);
    const paired = pairsOf(relay, 1);
    relay.submit(arriving);
    await paired;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(journal, ["a:Mode 1", "w:Mode 2"]);
    assert.equal(relay.waitingCount, 0);
  });

  it("'paired' (the log line, the metrics) is told only once both replies are out, never ahead of them", async () => {
    const journal: string[] = [];
    const relay = new PairingCore(policy(), silentLogger);
    relay.submit(party("w", "0.u", "1.u", journal));
    const seenAtPaired = new Promise<string[]>((resolve) => relay.on("paired", () => resolve([...journal])));
    relay.submit(party("a", "1.u", "0.u", journal));
    assert.deepEqual(await seenAtPaired, ["a:Mode 1", "w:Mode 2"]);
  });

  it("waiters on one key are served first come, first served", async () => {
    const journal: string[] = [];
    const relay = new PairingCore(policy(), silentLogger);
    const waiters = ["w1", "w2", "w3"].map((n) => party(n, "0.u", "1.u", journal));
    for (const w of waiters) relay.submit(w);
    assert.equal(relay.waitingCount, 3);
    for (const n of ["a1", "a2", "a3"]) relay.submit(party(n, "1.u", "0.u", journal));
    await new Promise((r) => setTimeout(r, 0));
    const order = journal.filter((j) => j.endsWith("Mode 2")).map((j) => j.split(":")[0]);
    assert.deepEqual(order, ["w1", "w2", "w3"]);
  });

  it("a waiter that leaves is skipped; the next in line is paired", async () => {
    const journal: string[] = [];
    const relay = new PairingCore(policy(), silentLogger);
    const [w1, w2] = ["w1", "w2"].map((n) => party(n, "0.u", "1.u", journal)) as [TestParty, TestParty];
    relay.submit(w1);
    relay.submit(w2);
    w1.gone();
    assert.equal(relay.waitingCount, 1);
    relay.submit(party("a", "1.u", "0.u", journal));
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(journal.filter((j) => j.startsWith("w")), ["w2:Mode 2"]);
  });

  it("tags keep pairs apart: only the same tag meets", async () => {
    const journal: string[] = [];
    const relay = new PairingCore(policy(), silentLogger);
    relay.submit(party("wx", "0.u", "1.u", journal, "x"));
    relay.submit(party("ay", "1.u", "0.u", journal, "y"));
    assert.equal(relay.waitingCount, 2, "different tags both wait");
    relay.submit(party("ax", "1.u", "0.u", journal, "x"));
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(journal.sort(), ["ax:Mode 1", "wx:Mode 2"]);
    assert.equal(relay.waitingCount, 1);
  });

  it("refuses without waiting: no route (403), itself (403), too many waiting (429); draining refuses the waiting and the new (503)", () => {
    const journal: string[] = [];
    const relay = new PairingCore(policy({ maxWaitingPerIdentity: 1 }), silentLogger);
    relay.submit(party("stranger", "0.u", "9.u", journal));
    relay.submit(party("self", "0.u", "0.u", journal));
    relay.submit(party("first", "0.u", "1.u", journal));
    relay.submit(party("second", "0.u", "1.u", journal));
    void relay.startDraining(); // settles once the 503s are out; the journal shows they were sent
    relay.submit(party("late", "1.u", "0.u", journal));
    assert.deepEqual(journal, ["stranger:refused 403", "self:refused 403", "second:refused 429", "first:refused 503", "late:refused 503"]);
  });

  it("a waiter nobody comes for is refused 408 at timeouts.pair", async () => {
    const journal: string[] = [];
    const relay = new PairingCore(policy({ pairMs: 20 }), silentLogger);
    const w = party("w", "0.u", "1.u", journal);
    const refused = new Promise<void>((resolve) => {
      const refuse = w.refuse.bind(w);
      (w as { refuse: PendingParty["refuse"] }).refuse = (code, reason) => (refuse(code, reason), resolve());
    });
    relay.submit(w);
    await refused;
    assert.deepEqual(journal, ["w:refused 408"]);
    assert.equal(relay.waitingCount, 0);
  });
});
