import type { Duplex } from "node:stream";
import { readIntoFixedBuffer } from "./fixed-buffer-reads";
import type { RawStream } from "./party";

export interface SpliceStats {
  /** Bytes from a to b, and from b to a. */
  aToB: number;
  bToA: number;
}

export type SpliceEnd = "done" | "error" | "idle" | "closed";

/** Bytes a direction carries before it gets its own fixed read buffer. */
const BULK_BYTES = 1024 * 1024;

/** After both directions ended: how long the last bytes may take to drain before the cut. */
const FLUSH_GRACE_MS = 30_000;

/**
 * Copies raw bytes both ways between two paired streams.
 *
 * - Backpressure: when the destination's write() returns false the source is paused until
 *   'drain', so nothing buffers without bound in between.
 * - Half-close: a FIN from one side ends only that direction (`end()` on the other side);
 *   the other direction keeps flowing. Both sockets must be `allowHalfOpen`, or Node would close
 *   the whole connection on the first FIN and lose the other direction's later bytes.
 * - The session is over when both directions have ended, either side errors or closes early,
 *   the idle timer fires, or `close()` is called.
 */
export class Splice {
  readonly stats: SpliceStats = { aToB: 0, bToA: 0 };
  private endedDirections = 0;
  private closedSides = 0;
  private finished = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Cleared when the session ends: a pending timer would keep the whole session (buffers included) alive. */
  private flushGrace: NodeJS.Timeout | undefined;
  private lastSeenBytes = -1;

  constructor(
    private readonly a: RawStream,
    private readonly b: RawStream,
    private readonly onEnd: (how: SpliceEnd, error?: Error) => void,
    idleMs = 0,
  ) {
    this.direction(a, b.stream, "aToB");
    this.direction(b, a.stream, "bToA");
    for (const s of [a.stream, b.stream]) {
      s.on("error", (err: Error) => this.finish("error", err));
      // Before both directions ended, a close is an abort. After, each side closes once its own
      // last bytes are out; the session is done when both have, never by cutting the slower one.
      s.on("close", () => {
        if (this.endedDirections < 2) this.finish("closed");
        else if (++this.closedSides === 2) this.finish("done");
      });
    }
    if (idleMs > 0) this.armIdle(idleMs);
  }

  private direction(from: RawStream, to: Duplex, counter: keyof SpliceStats): void {
    if (from.leftover.length > 0) {
      this.stats[counter] += from.leftover.length;
      to.write(from.leftover);
    }
    const src = from.stream;
    const onEnd = () => {
      to.end();
      if (++this.endedDirections === 2) this.finishWhenFlushed();
    };
    if (src.readableEnded) {
      onEnd();
      return;
    }
    // A direction that carries bulk switches to fixed-buffer reads (see fixed-buffer-reads.ts);
    // an idle session keeps no read buffer at all.
    let untilBulk = BULK_BYTES;
    const onData = (chunk: Buffer) => {
      this.stats[counter] += chunk.length;
      if (!to.write(chunk)) return void src.pause();
      if ((untilBulk -= chunk.length) <= 0 && to.writableLength === 0) {
        untilBulk = Infinity;
        if (readIntoFixedBuffer(src, to, (n) => (this.stats[counter] += n))) src.off("data", onData);
      }
    };
    src.on("data", onData);
    to.on("drain", () => src.resume());
    src.on("end", onEnd);
    src.resume();
  }

  /**
   * Both directions have ended. Each side closes by itself once its last bytes are delivered
   * (a socket after its FIN; an HTTP/2 stream after END_STREAM both ways), and its 'close' ends
   * the session. Not on 'finish': for an HTTP/2 stream that only means the bytes reached
   * nghttp2's queue, and destroying it there would drop a tail still held by flow control.
   * A peer that never takes its last bytes is cut after a bounded grace.
   */
  private finishWhenFlushed(): void {
    // A stream may report its end after the session was already cut (an aborted HTTP/2
    // stream ends, then closes): no timer then, it would only keep the dead session alive.
    if (this.finished) return;
    this.flushGrace = setTimeout(() => this.finish("done"), FLUSH_GRACE_MS);
    this.flushGrace.unref();
  }

  private armIdle(idleMs: number): void {
    // Activity is judged by the byte counters, checked a few times per period: no per-chunk
    // timer resets on the data path.
    const step = Math.max(50, Math.floor(idleMs / 4));
    let quietFor = 0;
    this.idleTimer = setInterval(() => {
      const seen = this.stats.aToB + this.stats.bToA;
      quietFor = seen === this.lastSeenBytes ? quietFor + step : 0;
      this.lastSeenBytes = seen;
      if (quietFor >= idleMs) this.finish("idle");
    }, step);
    this.idleTimer.unref();
  }

  close(): void {
    this.finish("closed");
  }

  private finish(how: SpliceEnd, error?: Error): void {
    if (this.finished) return;
    this.finished = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    clearTimeout(this.flushGrace);
    this.a.stream.destroy();
    this.b.stream.destroy();
    this.onEnd(how, error);
  }
}
