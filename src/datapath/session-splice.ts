import type { Duplex } from "node:stream";

/** The raw byte stream of a paired party, with bytes that arrived before the splice took over. */
export interface RawStream {
  readonly stream: Duplex;
  readonly leftover: Buffer;
}

export interface SpliceStats {
  /** Bytes from a to b, and from b to a. */
  aToB: number;
  bToA: number;
}

export type SpliceEnd = "done" | "error" | "idle" | "closed";

/** What a session holds, whichever path moves its bytes. */
export interface SessionSplice {
  /** Live counts; final once the session has ended. */
  readonly stats: SpliceStats;
  /** Ends the session at once (reload, revocation, stop, an operator); idempotent. */
  close(): void;
}

/** After both directions ended: how long the last bytes may take to drain before the cut. */
export const FLUSH_GRACE_MS = 30_000;

/**
 * The idle timeout, judged by the byte counters a few times per period: no per-chunk timer
 * resets on the data path. Returns the interval (unref'd), for clearInterval at the end.
 */
export function watchIdle(bytes: () => number, idleMs: number, onIdle: () => void): NodeJS.Timeout {
  const step = Math.max(50, Math.floor(idleMs / 4));
  let quietFor = 0;
  let lastSeen = -1;
  const timer = setInterval(() => {
    const seen = bytes();
    quietFor = seen === lastSeen ? quietFor + step : 0;
    lastSeen = seen;
    if (quietFor >= idleMs) onIdle();
  }, step);
  timer.unref();
  return timer;
}
