import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { makeFixture, type Fixture } from "../helpers/fixture";
import type { RunningRelay } from "../helpers/cli";
import { dataPathCases, relayOnPath } from "../helpers/data-paths";
import { pair } from "../helpers/raw-party";
import { readAll, sha256 } from "../helpers/streams";

const MiB = 1024 * 1024;

const fx: Fixture = makeFixture([["0", "user1"], ["1", "user1"], ["2", "user1"], ["3", "user1"]]);
after(() => fx.cleanup());

/**
 * Bulk through either data path, with readers that stall: the native engine's pipe fills and
 * empties, the JS path pauses and resumes; no byte may be lost, doubled or reordered.
 */
for (const dp of dataPathCases()) describe(`bulk transfers: every byte intact (${dp.name} data path)`, { skip: dp.skip }, () => {
  let relay: RunningRelay;
  before(async () => (relay = await relayOnPath(fx, dp, dp.name)));
  after(() => relay.stop());

  const session = (tag: string) => pair(fx.party("0.user1", "1.user1", relay.address, tag), fx.party("1.user1", "0.user1", relay.address, tag));

  it("48 MiB both ways at once", async () => {
    const [a, b] = await session("both");
    const x = crypto.randomBytes(48 * MiB);
    const y = crypto.randomBytes(48 * MiB + 333);
    const [gotB, gotA] = [readAll(b.socket, 60_000), readAll(a.socket, 60_000)];
    a.socket.end(x);
    b.socket.end(y);
    assert.equal(sha256(await gotB), sha256(x));
    assert.equal(sha256(await gotA), sha256(y));
  });

  it("a reader that keeps stalling and resuming, with odd-sized writes", async () => {
    const [a, b] = await session("stall");
    const x = crypto.randomBytes(24 * MiB + 7);
    const got = readAll(b.socket, 60_000);
    // The reader stops for a few ms after one chunk in five: the relay's writes queue up and
    // its reads must wait for them.
    let stalls = 0;
    b.socket.on("data", () => {
      if (Math.random() < 0.2 && !b.socket.isPaused()) {
        stalls++;
        b.socket.pause();
        setTimeout(() => b.socket.resume(), 1 + Math.random() * 4);
      }
    });
    for (let at = 0; at < x.length; ) {
      const n = 1 + Math.floor(Math.random() * 300_000);
      if (!a.socket.write(x.subarray(at, at + n))) await new Promise((r) => a.socket.once("drain", r));
      at += n;
    }
    a.socket.end();
    const received = await got;
    assert.ok(stalls > 10, `the reader stalled only ${stalls} times`);
    assert.equal(received.length, x.length);
    assert.equal(sha256(received), sha256(x));
    b.socket.end();
  });

  // A session with an HTTP/2 party always takes the JS path, whatever the TCP side is.
  it("into an HTTP/2 party, with a stalling reader", async () => {
    const [a, b] = await pair(fx.party("2.user1", "3.user1", relay.address, "to-h2"), { ...fx.party("3.user1", "2.user1", relay.address, "to-h2"), transport: "h2" });
    const x = crypto.randomBytes(16 * MiB + 5);
    const got = readAll(b.socket, 60_000);
    b.socket.on("data", () => {
      if (Math.random() < 0.2 && !b.socket.isPaused()) {
        b.socket.pause();
        setTimeout(() => b.socket.resume(), 1 + Math.random() * 4);
      }
    });
    a.socket.end(x);
    assert.equal(sha256(await got), sha256(x));
    b.socket.end();
  });

  it("half-close after bulk: one side finishes 8 MiB, the other answers 8 MiB after that", async () => {
    const [a, b] = await session("half");
    const question = crypto.randomBytes(8 * MiB + 1);
    const answer = crypto.randomBytes(8 * MiB + 2);
    const gotQuestion = readAll(b.socket, 60_000);
    const gotAnswer = readAll(a.socket, 60_000);
    a.socket.end(question);
    assert.equal(sha256(await gotQuestion), sha256(question));
    b.socket.end(answer);
    assert.equal(sha256(await gotAnswer), sha256(answer));
  });
});
