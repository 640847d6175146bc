import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { makeFixture, type Fixture } from "../helpers/fixture";
import type { RunningRelay } from "../helpers/cli";
import { dataPathCases, relayOnPath } from "../helpers/data-paths";
import { pair } from "../helpers/raw-party";
import { readAll, sha256 } from "../helpers/streams";

const fx: Fixture = makeFixture([["0", "user1"], ["1", "user1"]]);
after(() => fx.cleanup());

for (const dp of dataPathCases()) describe(`half-close is forwarded: a FIN ends one direction only (${dp.name} data path)`, { skip: dp.skip }, () => {
  let relay: RunningRelay;
  before(async () => (relay = await relayOnPath(fx, dp, dp.name)));
  after(() => relay.stop());

  for (const closer of ["waiter (Mode 2)", "arriving party (Mode 1)"] as const) {
    it(`after the ${closer} finishes sending, the other side's reply still arrives in full`, async () => {
      const mark = relay.events.length;
      const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
      const [first, second] = closer.startsWith("waiter") ? [a, b] : [b, a];
      const question = crypto.randomBytes(200_000);
      const answer = crypto.randomBytes(900_000);
      const secondGot = readAll(second.socket);
      const firstGot = readAll(first.socket);
      first.socket.end(question);
      // The second side sees the end of the question, and only then starts its answer.
      assert.equal(sha256(await secondGot), sha256(question));
      assert.ok(!first.socket.readableEnded, "the first side's read direction is still open");
      second.socket.end(answer);
      assert.equal(sha256(await firstGot), sha256(answer));
      const closed = await relay.waitFor((e) => e["event"] === "closed" && relay.events.indexOf(e) >= mark);
      assert.equal(closed["how"], "done");
    });
  }
});
