/** What the pairing core and either data path agree on: the raw streams handed over, the splice handed back, its byte counts and how it ended. */
import type { Duplex } from "node:stream";

/** The raw byte stream of a paired party, with bytes that arrived before the splice took over. */
export interface RawStream {
  readonly stream: Duplex;
  readonly leftover: Buffer;
  /**
   * How many bytes written to this stream may wait in the relay before the party sending them
   * is paused; absent: the stream's own highWaterMark (what write() says).
   */
  readonly sendQueue?: number;
}

export interface SpliceStats {
  /** Bytes from a to b, and from b to a. */
  aToB: number;
  bToA: number;
}

/** What a session holds, whichever path moves its bytes. */
export interface SessionSplice {
  /** Live counts; final once the session has ended. */
  readonly stats: SpliceStats;
  /**
   * Both parties have sent their FIN and the relay is still delivering bytes it holds to a
   * reader that has not taken them: the flush grace is running.
   */
  readonly flushing: boolean;
  /**
   * Bytes the relay has taken from one party and not yet handed to the other's kernel (the
   * native path's pipe, the JS path's write queue): what a slow reader leaves in the relay.
   */
  readonly held: SpliceStats;
  /** Ends the session at once (reload, revocation, stop, an operator); idempotent. */
  close(): void;
}

export type SpliceEnd = "done" | "error" | "idle" | "closed" | "flush_grace";

/** The session timeouts both paths apply, taken from config when the session starts. */
export interface SessionTimers {
  /** No bytes either way for this long closes the session (0: never). */
  readonly idleMs: number;
  /** After both directions ended: how long the last held bytes may take to be read, then the cut. */
  readonly flushGraceMs: number;
}

/** The relay's defaults (timeouts.idle, timeouts.flush_grace), for splices outside the relay (the client). */
export const DEFAULT_TIMERS: SessionTimers = Object.freeze({ idleMs: 0, flushGraceMs: 30_000 });
