import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type { Duplex } from "node:stream";
import { readAll, sha256 } from "./streams";

const MiB = 1024 * 1024;

/**
 * Backpressure through a relayed session: `reader` stops reading while `writer` sends `total`
 * bytes. The writer must be held back (only socket buffers fill: under `maxAccepted` bytes taken
 * within 1.5 s), then, once the reader resumes, every byte must arrive intact. `whileStalled`
 * runs while the writer is blocked (to look at the relay meanwhile).
 */
export async function checkStalledReader(reader: Duplex, writer: Duplex, total: number, maxAccepted: number, whileStalled?: () => Promise<void>): Promise<void> {
  reader.pause();
  const data = crypto.randomBytes(total);
  let accepted = 0;
  let blocked = false;
  const writeAll = (async () => {
    for (let at = 0; at < total; at += 256 * 1024) {
      const chunk = data.subarray(at, at + 256 * 1024);
      accepted += chunk.length;
      if (!writer.write(chunk)) {
        blocked = true;
        await new Promise((r) => writer.once("drain", r));
      }
    }
    writer.end();
  })();
  // Let the writer run into the stalled reader: its writes block well before the whole payload.
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(blocked, "the writer was held back");
  assert.ok(accepted < maxAccepted, `only socket buffers fill up while the reader stalls (${accepted / MiB} MiB accepted)`);
  await whileStalled?.();
  const got = readAll(reader, 60_000);
  reader.resume();
  const received = await got;
  await writeAll;
  assert.equal(received.length, total);
  assert.equal(sha256(received), sha256(data));
  reader.end();
}
