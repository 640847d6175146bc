import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type * as net from "node:net";
import * as path from "node:path";
import { controlRequest } from "../../src/daemon/control-client";
import { makeFixture, type Fixture } from "../helpers/fixture";
import type { RunningRelay } from "../helpers/cli";
import { dataPathCases, rawSession, relayOnPath, type DataPathCase } from "../helpers/data-paths";
import { delay, readAll, sha256 } from "../helpers/streams";

const KiB = 1024;
const MiB = 1024 * KiB;
const fx: Fixture = makeFixture([["0", "user1"], ["1", "user1"]]);
after(() => fx.cleanup());

const once = (s: net.Socket, event: "end" | "finish", timeoutMs = 15_000) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' within ${timeoutMs} ms`)), timeoutMs);
    s.once(event, () => (clearTimeout(timer), resolve()));
  });
const closedEvent = (relay: RunningRelay, tag: string, timeoutMs: number) => relay.waitFor((e) => e["event"] === "closed" && e["tag"] === tag, timeoutMs);

interface SessionView {
  tag: string;
  bytesAToB: number;
  heldAToB: number;
  flushing: boolean;
}

type SessionReader = (tag: string) => Promise<SessionView | undefined>;

/**
 * A relay on `dp`'s path in a folder of its own, with `timeouts.flush_grace` set, and a reader
 * of a session's /sessions entry by tag (undefined once the session is gone).
 */
async function graceRelay(dp: DataPathCase, name: string, grace: string): Promise<{ relay: RunningRelay; session: SessionReader }> {
  const relay = await relayOnPath(fx, dp, name, { timeouts: { flush_grace: grace } });
  const sock = path.join(fx.dir, name, "frelay.sock");
  const session = async (tag: string) => ((await controlRequest(sock, "GET", "/sessions")).body as SessionView[]).find((s) => s.tag === tag);
  return { relay, session };
}

/** Polls `session(tag)` until `done` holds for it; fails naming `what` after `timeoutMs`. */
async function untilView(session: SessionReader, tag: string, what: string, done: (v: SessionView) => boolean, timeoutMs = 15_000, undefinedIfEnded = false): Promise<SessionView | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await session(tag);
    if (!view) return undefinedIfEnded ? undefined : assert.fail(`the session ended while waiting for ${what}`);
    if (done(view)) return view;
    if (Date.now() > deadline) assert.fail(`no ${what} within ${timeoutMs} ms: ${JSON.stringify(view)}`);
    await delay(2);
  }
}

/** What the relay reports having taken from a: the JS path counts what it read, the native path what it delivered (plus its pipe). */
const takenFromA = (dp: DataPathCase, v: SessionView) => (dp.name === "native" ? v.bytesAToB + v.heldAToB : v.bytesAToB);

/** A chunk smaller than the JS path's write-queue high-water mark (16 KiB on Node 20): the relay never pauses a for it. */
const CHUNK = 8 * KiB;

/**
 * How much the relay must hold for b before a sends its FIN. On the JS path a byte in the write
 * queue is one the kernel refused, so one is enough. The native path moves bytes on a thread of
 * its own: on a busy machine it can lag behind a's writes, and a first "held" reading may be
 * bytes it simply had not passed on yet (CI once saw three such sessions in a row end "done"
 * before any grace). Three chunks held while it kept taking a's writes means b's side is full.
 */
const enoughHeld = (dp: DataPathCase) => (dp.name === "native" ? 3 * CHUNK : 1);

/**
 * A session whose reader b stalls while the relay holds bytes for it after both parties sent
 * their FIN. b ends its side first and reads nothing; a then writes in small chunks, each
 * taken in by the relay before the next, until the kernel buffers towards b (several MiB,
 * varying from session to session) are full and the relay reports bytes held for b; then a
 * sends its FIN, which the relay reads (it never paused a), and the flush grace runs.
 */
async function heldAfterBothFins(relay: RunningRelay, session: SessionReader, dp: DataPathCase, tag: string): Promise<{ a: net.Socket; b: net.Socket; sent: string; total: number; finSentAt: number } | undefined> {
  const { a, b } = await rawSession(fx, relay, tag);
  const aSawEnd = once(a, "end");
  a.resume();
  b.end();
  await aSawEnd; // the relay ended b → a
  const hash = crypto.createHash("sha256");
  let total = 0;
  for (let view: SessionView | undefined; !view || view.heldAToB < enoughHeld(dp); ) {
    assert.ok(total < 64 * MiB, "the relay never held bytes for a reader that takes none");
    const chunk = crypto.randomBytes(CHUNK);
    hash.update(chunk);
    total += chunk.length;
    a.write(chunk);
    view = await untilView(session, tag, `the relay taking in ${total} bytes from a`, (v) => takenFromA(dp, v) === total);
  }
  const sent = once(a, "finish", 30_000);
  a.end();
  await sent;
  const finSentAt = Date.now();
  // Bytes the relay held while the kernel buffers towards b were still growing are taken after
  // all, and the session ends done before any grace: the caller tries a new session. Only an
  // ended session is tried again; no grace within the bound still fails here.
  const held = await untilView(session, tag, "the flush grace (both FINs read, bytes held)", (v) => v.flushing && v.heldAToB > 0, 15_000, true);
  if (!held) {
    a.destroy();
    b.destroy();
    await closedEvent(relay, tag, 15_000);
    return undefined;
  }
  return { a, b, sent: hash.digest("hex"), total, finSentAt };
}

/** heldAfterBothFins on a new session (tag `${prefix}-<try>`) until one holds bytes; three tries. */
async function heldSession(relay: RunningRelay, session: SessionReader, dp: DataPathCase, prefix: string) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const tag = `${prefix}-${attempt}`;
    const held = await heldAfterBothFins(relay, session, dp, tag);
    if (held) return { ...held, tag };
  }
  return assert.fail("three sessions in a row took the bytes the relay held before the flush grace began");
}

/**
 * timeouts.flush_grace on either path: the short grace cuts a session whose reader has not
 * taken the last bytes by then (the closed line says so, with its counts); a long one lets a
 * reader that stalls for longer than the short grace still get every byte. With the grace
 * ignored (the old fixed 30 s, or none), one of the two fails.
 */
for (const dp of dataPathCases()) describe(`timeouts.flush_grace (${dp.name} data path)`, { skip: dp.skip, timeout: 300_000 }, () => {
  const SHORT_MS = 1500;

  describe("a short grace", () => {
    let relay: RunningRelay;
    let session: SessionReader;
    before(async () => ({ relay, session } = await graceRelay(dp, `grace-short-${dp.name}`, `${SHORT_MS}ms`)));
    after(() => relay.stop());

    it("cuts the session at the grace when the reader has not taken the last bytes, and logs how and the counts", async () => {
      const held = await heldSession(relay, session, dp, "short");
      const closed = await closedEvent(relay, held.tag, SHORT_MS + 15_000);
      const waited = Date.now() - held.finSentAt;
      held.a.destroy();
      held.b.destroy();
      assert.equal(closed["how"], "flush_grace");
      assert.ok(waited >= SHORT_MS - 50, `cut ${waited} ms after the last FIN, before the ${SHORT_MS} ms grace`);
      const counted = closed["bytes_a_to_b"] as number;
      // The native path counts what it delivered, the JS path what it read from a.
      if (dp.name === "native") assert.ok(counted < held.total, `the closed line counts ${counted} of ${held.total} bytes delivered: nothing was cut`);
      else assert.equal(counted, held.total);
      assert.equal(closed["bytes_b_to_a"], 0);
    });
  });

  describe("a long grace", () => {
    let relay: RunningRelay;
    let session: SessionReader;
    before(async () => ({ relay, session } = await graceRelay(dp, `grace-long-${dp.name}`, "60s")));
    after(() => relay.stop());

    it("lets a reader that stalls past the short grace still get every byte; the session then ends done", async () => {
      const held = await heldSession(relay, session, dp, "long");
      // The reader stays away for twice the short grace (the wait is the point of the test, not an ordering).
      await delay(2 * SHORT_MS);
      const view = await session(held.tag);
      assert.ok(view?.flushing && view.heldAToB > 0, `the session still holds its last bytes for the reader: ${JSON.stringify(view)}`);
      const got = readAll(held.b, 60_000);
      held.b.resume();
      assert.equal(sha256(await got), held.sent);
      const closed = await closedEvent(relay, held.tag, 15_000);
      held.a.destroy();
      assert.equal(closed["how"], "done");
      assert.equal(closed["bytes_a_to_b"], held.total);
      assert.equal(closed["bytes_b_to_a"], 0);
    });
  });
});
