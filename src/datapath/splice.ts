import { SessionEnd } from "./session-end";
import { DEFAULT_TIMERS, type RawStream, type SessionSplice, type SessionTimers, type SpliceEnd, type SpliceStats } from "./session-splice";

export type { SpliceEnd, SpliceStats };

/**
 * The JavaScript data path: copies raw bytes both ways between two paired streams. It carries
 * HTTP/2 streams, the party side's TLS sockets, and TCP sessions wherever the native splice(2)
 * path (native-splice.ts) is unavailable or switched off.
 *
 * - Backpressure: when the destination's write() returns false the source is paused until
 *   'drain', so nothing buffers without bound in between.
 * - Half-close: a FIN from one side ends only that direction (`end()` on the other side);
 *   the other direction keeps flowing. Both sockets must be `allowHalfOpen`, or Node would close
 *   the whole connection on the first FIN and lose the other direction's later bytes.
 * - The session is over when both directions have ended and both sides closed, either side
 *   errors or closes early, the idle timeout or the flush grace (session-end.ts) cuts it, or
 *   `close()` is called.
 */
export class Splice implements SessionSplice {
  readonly stats: SpliceStats = { aToB: 0, bToA: 0 };
  private endedDirections = 0;
  private closedSides = 0;
  private readonly ending: SessionEnd;

  constructor(
    private readonly a: RawStream,
    private readonly b: RawStream,
    onEnd: (how: SpliceEnd, error?: Error) => void,
    timers: SessionTimers = DEFAULT_TIMERS,
  ) {
    this.ending = new SessionEnd(timers, () => this.stats.aToB + this.stats.bToA, (how) => this.finish(how), onEnd);
    this.direction(a, b, "aToB");
    this.direction(b, a, "bToA");
    for (const s of [a.stream, b.stream]) {
      s.on("error", (err: Error) => this.finish("error", err));
      // Before both directions ended, a close is an abort. After, each side closes once its own
      // last bytes are out; the session is done when both have, never by cutting the slower one.
      s.on("close", () => {
        if (this.endedDirections < 2) this.finish("closed");
        else if (++this.closedSides === 2) this.finish("done");
      });
    }
  }

  private direction(from: RawStream, toRaw: RawStream, counter: keyof SpliceStats): void {
    const to = toRaw.stream;
    const queue = toRaw.sendQueue;
    if (from.leftover.length > 0) {
      this.stats[counter] += from.leftover.length;
      to.write(from.leftover);
    }
    const src = from.stream;
    const onEnd = () => {
      to.end();
      if (++this.endedDirections === 2) this.ending.bothEnded();
    };
    if (src.readableEnded) {
      onEnd();
      return;
    }
    // Past its highWaterMark write() returns false and 'drain' will come once the queue is
    // empty; with a sendQueue the source keeps flowing until that much waits. Such a
    // destination (an HTTP/2 stream) is also corked until the loop's check phase, so what the
    // source delivers in one turn (a 'data' event per DATA frame, 16 KiB at most) goes out as one
    // writev: one write request instead of one per frame, for no added latency.
    let corked = false;
    const uncork = () => {
      corked = false;
      to.uncork();
    };
    src.on("data", (chunk: Buffer) => {
      this.stats[counter] += chunk.length;
      if (queue !== undefined && !corked) {
        corked = true;
        to.cork();
        setImmediate(uncork);
      }
      if (!to.write(chunk) && (queue === undefined || to.writableLength >= queue)) src.pause();
    });
    to.on("drain", () => src.resume());
    src.on("end", onEnd);
    src.resume();
  }

  // Once both directions have ended, each side closes by itself when its last bytes are
  // delivered (a socket after its FIN; an HTTP/2 stream after END_STREAM both ways), and its
  // 'close' ends the session. Not on 'finish': for an HTTP/2 stream that only means the bytes
  // reached nghttp2's queue, and destroying it there would drop a tail still held by flow
  // control. A peer that never takes its last bytes is cut by the flush grace.

  get flushing(): boolean {
    return this.ending.flushing;
  }

  get held(): SpliceStats {
    return { aToB: this.b.stream.writableLength, bToA: this.a.stream.writableLength };
  }

  close(): void {
    this.finish("closed");
  }

  private finish(how: SpliceEnd, error?: Error): void {
    this.ending.end(how, () => (this.a.stream.destroy(), this.b.stream.destroy()), error);
  }
}
