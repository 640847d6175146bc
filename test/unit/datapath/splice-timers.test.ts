import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import { Splice, type SpliceEnd } from "../../../src/datapath/splice";
import { tcpPair } from "../../helpers/streams";

v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/**
 * Runs a session to its end through `play` and returns a weak reference to its Splice; nothing
 * else of it is kept. `how` is how the session ended.
 */
async function finishedSession(play: (a: net.Socket, b: net.Socket, peerA: net.Socket, peerB: net.Socket) => void | Promise<void>): Promise<{ ref: WeakRef<Splice>; how: SpliceEnd }> {
  const [a, peerA] = await tcpPair();
  const [b, peerB] = await tcpPair();
  let resolveEnd: (how: SpliceEnd) => void = () => undefined;
  const ended = new Promise<SpliceEnd>((r) => (resolveEnd = r));
  const splice = new Splice({ stream: a, leftover: Buffer.alloc(0) }, { stream: b, leftover: Buffer.alloc(0) }, (how) => resolveEnd(how));
  await play(a, b, peerA, peerB);
  const how = await ended;
  await new Promise((r) => setTimeout(r, 50)); // let the closes settle
  for (const s of [a, b, peerA, peerB]) s.destroy();
  return { ref: new WeakRef(splice), how };
}

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
    gc();
  }
  return ref.deref() === undefined;
}

/**
 * A finished session must leave nothing behind: a pending timer (even unref'd) keeps the whole
 * session (sockets, read buffers) reachable until it fires, 30 s later.
 */
describe("a finished splice can be collected at once", () => {
  it("after both directions end and both sides close", async () => {
    const { ref, how } = await finishedSession((_a, _b, peerA, peerB) => {
      for (const p of [peerA, peerB]) {
        p.resume();
        p.on("end", () => p.end());
      }
      peerA.end("x");
      peerB.end("y");
    });
    assert.equal(how, "done");
    assert.ok(await collected(ref), "the splice is still reachable after the session ended");
  });

  it("when one side is cut and the other's end is reported after the cut", async () => {
    const { ref, how } = await finishedSession(async (a, b, peerA) => {
      peerA.end("x"); // a's direction ends first
      await new Promise((r) => setTimeout(r, 50));
      b.destroy(); // then the other side is cut
      await new Promise((r) => setTimeout(r, 20));
      a.emit("end"); // a late end report, as an aborted HTTP/2 stream gives
    });
    assert.equal(how, "closed");
    assert.ok(await collected(ref), "the splice is still reachable after the session ended");
  });
});
