import type { SessionTimers, SpliceEnd } from "./session-splice";

/**
 * What both data paths keep in JavaScript about how a session ends: the idle watch, the flush
 * grace once both directions have ended, and the one end report. The path supplies `cut` (end
 * the session now, its own way) and, at the end, what to release.
 */
export class SessionEnd {
  private idleTimer: NodeJS.Timeout | undefined;
  /** Cleared at the end: a pending timer would keep the whole session (buffers included) alive. */
  private flushGrace: NodeJS.Timeout | undefined;
  private over = false;

  constructor(
    private readonly timers: SessionTimers,
    bytes: () => number,
    private readonly cut: (how: SpliceEnd) => void,
    private readonly onEnd: (how: SpliceEnd, error?: Error) => void,
  ) {
    if (timers.idleMs > 0) this.idleTimer = watchIdle(bytes, timers.idleMs, () => cut("idle"));
  }

  get ended(): boolean {
    return this.over;
  }

  /** Both directions have ended and the session is still open: its flush grace is running. */
  get flushing(): boolean {
    return this.flushGrace !== undefined && !this.over;
  }

  /**
   * Both directions have ended (both parties sent their FIN): what the relay still holds gets
   * `flushGraceMs` to be taken by a slow reader, then the session is cut as "flush_grace".
   */
  bothEnded(): void {
    // A stream may report its end after the session was already cut (an aborted HTTP/2
    // stream ends, then closes): no timer then, it would only keep the dead session alive.
    if (this.over || this.flushGrace) return;
    this.flushGrace = setTimeout(() => this.cut("flush_grace"), this.timers.flushGraceMs);
    this.flushGrace.unref();
  }

  /** Ends the session once: stops the timers, runs `release`, reports. Later calls do nothing. */
  end(how: SpliceEnd, release: () => void, error?: Error): void {
    if (this.over) return;
    this.over = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    clearTimeout(this.flushGrace);
    release();
    this.onEnd(how, error);
  }
}

/**
 * The idle timeout, judged by the byte counters a few times per period: no per-chunk timer
 * resets on the data path. Returns the interval (unref'd), for clearInterval at the end.
 */
function watchIdle(bytes: () => number, idleMs: number, onIdle: () => void): NodeJS.Timeout {
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
