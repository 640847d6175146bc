import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import type { Duplex } from "node:stream";
import { eventually } from "./eventually";
import { procSysNumbers } from "./kernel";
import { readAll, sha256 } from "./streams";

const MiB = 1024 * 1024;

/** The most one TCP connection on this host can hold in its two kernel buffers (send + receive). */
function kernelBytesPerConnection(): number {
  // The third of tcp_rmem / tcp_wmem ("min default max") is the most a buffer grows to.
  const max = (key: string, fallback: number) => procSysNumbers(key)?.[2] || fallback;
  return max("net/ipv4/tcp_rmem", 6 * MiB) + max("net/ipv4/tcp_wmem", 4 * MiB);
}

/**
 * Backpressure through a relayed session: `reader` stops reading while `writer` sends. The writer
 * must be held back: once its writes stop being taken, what it got rid of is at most what the
 * kernel can hold on the `connections` TCP connections along the way (each up to this host's
 * tcp_rmem + tcp_wmem maxima: 36 MiB here, since receive buffers grow to 32 MiB) plus
 * `relayAllowance` for what relays hold in user space. The payload is larger than that bound, so
 * a relay that buffered without limit would take all of it and fail. Once the reader resumes,
 * every byte must arrive intact. `whileStalled` runs while the writer is held (to look at the relay).
 */
export async function checkStalledReader(reader: Duplex, writer: Duplex, opts: { connections: number; relayAllowance: number }, whileStalled?: () => Promise<void>): Promise<void> {
  const bound = opts.relayAllowance + opts.connections * kernelBytesPerConnection();
  const total = bound + 32 * MiB;
  reader.pause();
  const data = crypto.randomBytes(total);
  let accepted = 0;
  let waitingForDrain = false;
  const writeAll = (async () => {
    for (let at = 0; at < total; at += 256 * 1024) {
      const chunk = data.subarray(at, at + 256 * 1024);
      accepted += chunk.length;
      if (!writer.write(chunk)) {
        waitingForDrain = true;
        await new Promise((r) => writer.once("drain", r));
        waitingForDrain = false;
      }
    }
    writer.end();
  })();
  // Held: the writer waits for 'drain' and nothing more is taken for 500 ms (or it sent it all).
  let last = -1;
  let stillSince = Date.now();
  await eventually("the writer held back, or done", () => {
    if (accepted >= total) return true;
    if (accepted !== last || !waitingForDrain) [last, stillSince] = [accepted, Date.now()];
    return Date.now() - stillSince >= 500;
  }, 20_000);
  assert.ok(waitingForDrain, `the writer was held back (${accepted / MiB} of ${total / MiB} MiB taken)`);
  assert.ok(accepted < bound, `only socket buffers fill up while the reader stalls (${accepted / MiB} MiB taken, bound ${bound / MiB} MiB)`);
  await whileStalled?.();
  const got = readAll(reader, 60_000);
  reader.resume();
  const received = await got;
  await writeAll;
  assert.equal(received.length, total);
  assert.equal(sha256(received), sha256(data));
  reader.end();
}
