import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type * as net from "node:net";
import { Splice } from "../../../src/datapath/splice";
import { readAll, sha256, tcpPair } from "../../helpers/streams";

const KiB = 1024;
/** The most a TCP socket hands over in one 'data' event (libuv's read size). */
const READ_CHUNK = 64 * KiB;

/**
 * A session whose destination reader stops: the party on `a` writes `total` bytes, the party on
 * `b` reads nothing until the relay has paused `a`. Returns how much the relay had queued to `b`
 * then, and `b`'s own high-water mark; then `b` reads everything, which must be intact.
 */
async function queuedAtPause(sendQueue: number | undefined, total: number): Promise<{ queued: number; highWaterMark: number }> {
  const [a, writer] = await tcpPair();
  const [b, reader] = await tcpPair();
  const none = Buffer.alloc(0);
  const splice = new Splice({ stream: a, leftover: none }, { stream: b, leftover: none, ...(sendQueue === undefined ? {} : { sendQueue }) }, () => undefined);
  try {
    reader.pause();
    const paused = new Promise<number>((resolve) => a.once("pause", () => resolve(b.writableLength)));
    const data = crypto.randomBytes(total);
    writer.end(data);
    const queued = await paused;
    reader.resume();
    assert.equal(sha256(await readAll(reader)), sha256(data), "what arrives is what was sent");
    return { queued, highWaterMark: b.writableHighWaterMark };
  } finally {
    splice.close();
    for (const s of [writer, reader] as net.Socket[]) s.destroy();
  }
}

describe("JS splice: what may wait for a slow destination", () => {
  it("with a sendQueue the source flows until that much is queued, and is paused with less than one read more", { timeout: 30_000 }, async () => {
    const sendQueue = 256 * KiB;
    const { queued: q } = await queuedAtPause(sendQueue, 48 * 1024 * KiB);
    assert.ok(q >= sendQueue, `paused with only ${q} bytes queued (the queue is ${sendQueue})`);
    assert.ok(q < sendQueue + READ_CHUNK, `paused with ${q} bytes queued, over ${sendQueue} + one read`);
  });

  // Node's default high-water mark is 16 KiB on Node 20 and 64 KiB from Node 22.
  it("without one the destination's own highWaterMark decides, as before", { timeout: 30_000 }, async () => {
    const { queued: q, highWaterMark } = await queuedAtPause(undefined, 48 * 1024 * KiB);
    assert.ok(q < highWaterMark + READ_CHUNK, `paused with ${q} bytes queued, over the high-water mark (${highWaterMark}) + one read`);
  });
});
