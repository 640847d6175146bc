import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { makeFixture, type Fixture } from "../helpers/fixture";
import type { RunningRelay } from "../helpers/cli";
import { dataPathCases, relayOnPath } from "../helpers/data-paths";
import { pair } from "../helpers/raw-party";
import { halfCloseExchange } from "../helpers/half-close-exchange";

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
      await halfCloseExchange(first, second);
      const closed = await relay.waitFor((e) => e["event"] === "closed" && relay.events.indexOf(e) >= mark);
      assert.equal(closed["how"], "done");
    });
  }
});
