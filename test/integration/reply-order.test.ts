import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "../../src/client/connect";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { WireTap, type TapChunk } from "../helpers/wire-tap";

/** Which reads delivered the relay's reply to one party: its first byte, and its last. */
interface ReplyOnWire {
  first: TapChunk;
  last: TapChunk;
}

/**
 * Finds the reply in what a party received: the last two records of the outer TLS (the
 * {"Mode":n} record and the close_notify), the two before the end-to-end TLS's first handshake
 * record (a plaintext handshake record after encrypted traffic). Undefined until that is seen.
 */
function replyOnWire(chunks: TapChunk[] | undefined): ReplyOnWire | undefined {
  if (!chunks) return undefined;
  const all = Buffer.concat(chunks.map((c) => c.bytes));
  const starts: number[] = [];
  let seenEncrypted = false;
  let e2eStart = -1;
  for (let off = 0; off + 5 <= all.length; off += 5 + all.readUInt16BE(off + 3)) {
    const type = all[off];
    if (type === 22 && seenEncrypted) {
      e2eStart = off;
      break;
    }
    if (type === 23) seenEncrypted = true;
    starts.push(off);
  }
  if (e2eStart < 0 || starts.length < 2) return undefined;
  const at = (offset: number): TapChunk => {
    let end = 0;
    for (const c of chunks) {
      end += c.bytes.length;
      if (offset < end) return c;
    }
    throw new Error(`offset ${offset} beyond the capture`);
  };
  return { first: at(starts[starts.length - 2] as number), last: at(e2eStart - 1) };
}

describe("the relay's replies on the wire", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let tap: WireTap;
  before(async () => {
    ({ fx, relay, close } = await suiteRelay());
    tap = await WireTap.start(relay.port);
  });
  after(async () => {
    tap.stop();
    await close();
  });

  it("sends Mode 1 + close_notify to the arriving party in one write, and only then Mode 2 to the waiting one", { timeout: 90_000 }, async (t) => {
    const gapsUs: number[] = [];
    for (let i = 0; i < 12; i++) {
      const tag = `order-${i}`;
      const base = tap.conns.length;
      const waiting = connect({ ...fx.party("0.user1", "1.user1", tap.address, tag), timeoutMs: 15000 });
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag);
      const arriving = await connect({ ...fx.party("1.user1", "0.user1", tap.address, tag), timeoutMs: 15000 });
      const waiter = await waiting;
      assert.equal(arriving.mode, 1);
      assert.equal(waiter.mode, 2);
      // The tap reports each read before forwarding it, but over a pipe: wait for its lines.
      const toWaiter = await tap.until(() => replyOnWire(tap.conns[base]));
      const toArriving = await tap.until(() => replyOnWire(tap.conns[base + 1]));
      assert.ok(toArriving.last.seq < toWaiter.first.seq, `pair ${i}: the arriving party's reply is on the wire before any byte of the waiting party's`);
      assert.equal(toArriving.first, toArriving.last, `pair ${i}: Mode 1 and its close_notify arrive in one segment`);
      assert.equal(toWaiter.first, toWaiter.last, `pair ${i}: Mode 2 and its close_notify arrive in one segment`);
      gapsUs.push(Number(toWaiter.first.ns - toArriving.last.ns) / 1000);
      arriving.socket.destroy();
      waiter.socket.destroy();
    }
    gapsUs.sort((x, y) => x - y);
    t.diagnostic(`Mode 1 → Mode 2 on the wire, µs: min ${gapsUs[0]?.toFixed(0)}, median ${gapsUs[gapsUs.length >> 1]?.toFixed(0)}, max ${gapsUs[gapsUs.length - 1]?.toFixed(0)}`);
  });
});
