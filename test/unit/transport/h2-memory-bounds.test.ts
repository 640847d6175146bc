import { it } from "node:test";
import * as assert from "node:assert/strict";
import { MIN_STREAM_WINDOW, h2Settings, streamSendQueue, streamWindow } from "../../../src/transport/h2-memory-bounds";

const KiB = 1024;
const MiB = 1024 * KiB;

it("HTTP/2 budget: each stream's window and send queue together stay within its share", () => {
  // The defaults (16 MiB, 16 streams): 1 MiB a stream, a quarter of it for what is sent to it.
  const defaults = { bufferBytes: 16 * MiB, maxStreams: 16 };
  assert.equal(streamSendQueue(defaults), 256 * KiB);
  assert.equal(streamWindow(defaults), 768 * KiB);
  assert.equal(h2Settings(defaults).initialWindowSize, 768 * KiB);
  // The queue is at most 256 KiB (more gained nothing measurable), the window takes the rest.
  assert.equal(streamSendQueue({ bufferBytes: 64 * MiB, maxStreams: 1 }), 256 * KiB);
  assert.equal(streamWindow({ bufferBytes: 64 * MiB, maxStreams: 1 }), 64 * MiB - 256 * KiB);
  // Every budget config.json accepts (a share of at least 64 KiB): within the share, except
  // that neither goes under its floor (HTTP/2's default window, Node's 16 KiB queue).
  for (const maxStreams of [1, 2, 3, 16, 100, 1000]) {
    for (const mib of [1, 2, 5, 16, 64, 4096]) {
      const b = { bufferBytes: mib * MiB, maxStreams };
      const share = Math.floor(b.bufferBytes / maxStreams);
      if (share < 64 * KiB) continue;
      const [window, queue] = [streamWindow(b), streamSendQueue(b)];
      assert.ok(window >= MIN_STREAM_WINDOW && queue >= 16 * KiB, `${mib} MiB / ${maxStreams}: window ${window}, queue ${queue}`);
      assert.ok(window + queue <= Math.max(share, MIN_STREAM_WINDOW + 16 * KiB), `${mib} MiB / ${maxStreams}: ${window} + ${queue} over the share ${share}`);
    }
  }
});
