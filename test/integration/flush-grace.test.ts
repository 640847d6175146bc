import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type * as net from "node:net";
import * as path from "node:path";
import { controlRequest } from "../../src/daemon/control-client";
import { makeFixture, type Fixture } from "../helpers/fixture";
import type { RunningRelay } from "../helpers/cli";
import { dataPathCases, rawSession, relayOnPath, type DataPathCase } from "../helpers/data-paths";
import { readAll, sha256 } from "../helpers/streams";

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

/**
 * A relay on `dp`'s path in a folder of its own, with `timeouts.flush_grace` set. Each gets
 * its control socket's path back for /sessions.
 */
async function graceRelay(dp: DataPathCase, name: string, grace: string): Promise<{ relay: RunningRelay; sessionBytes: (tag: string) => Promise<number> }> {
  const relay = await relayOnPath(fx, dp, name, { timeouts: { flush_grace: grace } });
  const sock = path.join(fx.dir, name, "frelay.sock");
  const sessionBytes = async (tag: string) => {
    const list = (await controlRequest(sock, "GET", "/sessions")).body as { tag: string; bytesAToB: number }[];
    return list.find((s) => s.tag === tag)?.bytesAToB ?? -1;
  };
  return { relay, sessionBytes };
}

/**
 * How many bytes a → b the relay passes on while b reads nothing: what the kernel buffers
 * towards b take (the relay's send buffer grows to tcp_wmem's maximum, about 4 MiB here). Measured on a
 * session of its own that is then thrown away: the sender writes far more than fits and the
 * relay's count is read until it stops moving.
 */
async function stalledCapacity(relay: RunningRelay, sessionBytes: (tag: string) => Promise<number>, tag: string): Promise<number> {
  const { a, b } = await rawSession(fx, relay, tag);
  a.write(Buffer.alloc(32 * MiB));
  let last = -2;
  for (let i = 0; i < 100; i++) {
    const now = await sessionBytes(tag);
    if (now === last && now > 0) break;
    last = now;
    await new Promise((r) => setTimeout(r, 300));
  }
  a.destroy();
  b.destroy();
  await closedEvent(relay, tag, 15_000);
  return last;
}

/**
 * A session whose reader b stalls after both parties sent their FIN: b ends its side first
 * (reading nothing), then a sends `tailBytes` and its FIN. A tail a little larger than what the
 * kernel buffers towards b take sits partly in the relay (the native engine's pipe; the JS
 * path's write queue) once the relay has read a's FIN: the flush grace alone then decides
 * between cutting it and delivering it.
 */
async function stalledAfterBothFins(relay: RunningRelay, tag: string, tailBytes: number): Promise<{ a: net.Socket; b: net.Socket; tail: Buffer; finSentAt: number }> {
  const { a, b } = await rawSession(fx, relay, tag);
  const aSawEnd = once(a, "end");
  a.resume();
  b.end();
  await aSawEnd; // the relay ended b → a
  const tail = crypto.randomBytes(tailBytes);
  const sent = once(a, "finish", 30_000);
  a.end(tail);
  await sent; // a's tail and FIN are in its kernel: the relay reads them while b still reads nothing
  return { a, b, tail, finSentAt: Date.now() };
}

/**
 * timeouts.flush_grace on either path: the short grace cuts a session whose reader has not
 * taken the last bytes by then (the closed line says so, with its counts); a long one lets a
 * reader that stalls for longer than the short grace still get every byte. With the grace
 * ignored (the old fixed 30 s, or none), one of the two fails.
 *
 * What the relay holds once both FINs are in depends on how much the kernel buffers towards b
 * took, which varies from session to session by some 100 KiB: the native pipe (grown to 1 MiB)
 * absorbs that, the JS path holds only its write queue (about one read, up to 64 KiB). So the
 * short-grace test looks for a tail that leaves bytes in the relay, from below: a tail the
 * kernel buffers take whole ends the session as done at once (the next try sends 16 KiB more);
 * the first that leaves bytes behind is cut by the grace. The long-grace test then sends that
 * tail again.
 */
for (const dp of dataPathCases()) describe(`timeouts.flush_grace (${dp.name} data path)`, { skip: dp.skip, timeout: 300_000 }, () => {
  const SHORT_MS = 1500;
  const start = dp.name === "native" ? 128 * KiB : -256 * KiB;
  let heldTail = 0;

  describe("a short grace", () => {
    let relay: RunningRelay;
    let sessionBytes: (tag: string) => Promise<number>;
    before(async () => ({ relay, sessionBytes } = await graceRelay(dp, `grace-short-${dp.name}`, `${SHORT_MS}ms`)));
    after(() => relay.stop());

    it("cuts the session at the grace when the reader has not taken the last bytes, and logs how and the counts", async () => {
      const capacity = await stalledCapacity(relay, sessionBytes, "cap-short");
      let offset = start;
      for (let attempt = 0; attempt < 24; attempt++, offset += 16 * KiB) {
        const tag = `short${attempt}`;
        const tailBytes = capacity + offset;
        const { a, b, tail, finSentAt } = await stalledAfterBothFins(relay, tag, tailBytes);
        const closed = await closedEvent(relay, tag, SHORT_MS + 5000).catch(() => undefined);
        const waited = Date.now() - finSentAt;
        if (!closed) {
          // Too much for the relay to take in while b stalls: it has not read a's FIN, so no
          // grace runs. b takes everything; the next try is smaller.
          b.resume();
          await closedEvent(relay, tag, 15_000);
          a.destroy();
          b.destroy();
          offset -= 24 * KiB;
          continue;
        }
        a.destroy();
        b.destroy();
        if (closed["how"] === "done") {
          // The kernel buffers took the whole tail: nothing was left for the grace.
          assert.equal(closed["bytes_a_to_b"], tail.length);
          continue;
        }
        assert.equal(closed["how"], "flush_grace");
        assert.ok(waited >= SHORT_MS - 50, `cut ${waited} ms after the last FIN, before the ${SHORT_MS} ms grace`);
        const counted = closed["bytes_a_to_b"] as number;
        // The native path counts what it delivered, the JS path what it read from a.
        if (dp.name === "native") assert.ok(counted < tail.length, `the closed line counts ${counted} of ${tail.length} bytes delivered: nothing was cut`);
        else assert.equal(counted, tail.length);
        assert.equal(closed["bytes_b_to_a"], 0);
        heldTail = tailBytes - capacity;
        return;
      }
      assert.fail("no try was cut by the grace: each tail either fitted the kernel buffers or waited past the grace");
    });
  });

  describe("a long grace", () => {
    let relay: RunningRelay;
    let sessionBytes: (tag: string) => Promise<number>;
    before(async () => ({ relay, sessionBytes } = await graceRelay(dp, `grace-long-${dp.name}`, "60s")));
    after(() => relay.stop());

    it("lets a reader that stalls past the short grace still get every byte; the session then ends done", async () => {
      const capacity = await stalledCapacity(relay, sessionBytes, "cap-long");
      for (let attempt = 0, offset = heldTail ? heldTail - 32 * KiB : start; attempt < 16; attempt++, offset += 16 * KiB) {
        const tag = `long${attempt}`;
        const { b, tail, finSentAt } = await stalledAfterBothFins(relay, tag, capacity + offset);
        // The reader stays away for twice the short grace (the wait is the point of the test, not an ordering).
        await new Promise((r) => setTimeout(r, 2 * SHORT_MS));
        const early = relay.events.find((e) => e["event"] === "closed" && e["tag"] === tag);
        if (early) {
          // Ended at once as done: the kernel buffers took the whole tail, the relay held none.
          assert.equal(early["how"], "done");
          b.destroy();
          continue;
        }
        const got = readAll(b, 60_000);
        b.resume();
        assert.equal(sha256(await got), sha256(tail));
        const closed = await closedEvent(relay, tag, 15_000);
        assert.equal(closed["how"], "done");
        assert.equal(closed["bytes_a_to_b"], tail.length);
        assert.equal(closed["bytes_b_to_a"], 0);
        assert.ok(Date.now() - finSentAt < 60_000);
        return;
      }
      assert.fail("no tail left bytes in the relay after both FINs");
    });
  });
});
