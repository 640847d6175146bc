import type * as http2 from "node:http2";
import type { Duplex } from "node:stream";
import type { Logger } from "../log/logger";

/** How long one HTTP/2 connection may last, and sit without a stream (0: no bound). */
export interface H2TimeBounds {
  /** Until the first stream: a connection that opens none holds a descriptor for nothing. */
  readonly firstStreamMs: number;
  /** With no open stream, after the first: `timeouts.h2_idle`. */
  readonly idleMs: number;
  /** From accept: `timeouts.h2_lifetime`; then GOAWAY (open streams finish, no new ones). */
  readonly lifetimeMs: number;
}

/** setTimeout fires at once above this (about 24.8 days): longer bounds wait this long. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How long a connection gets after our GOAWAY, once nothing is open, before it is closed. */
const GOAWAY_GRACE_MS = 1000;

/** A session's streams that are not closed yet. */
const openStreams = new WeakMap<http2.Http2Session, Set<http2.ServerHttp2Stream>>();

export function streamsOf(session: http2.Http2Session): ReadonlySet<http2.ServerHttp2Stream> {
  return openStreams.get(session) ?? new Set();
}

/**
 * Keeps one HTTP/2 connection bounded in time: closed if no stream comes in time, closed when
 * it has had no open stream for `idleMs`, and sent GOAWAY when `lifetimeMs` has passed, so no
 * connection outlives the checks made when it began by more than that. `socket` is the
 * connection itself: after a graceful close Node only half-closes it and waits for the peer,
 * which need never answer. Every timer goes with the session: pending, it would keep a closed
 * session alive.
 */
export function boundSession(session: http2.ServerHttp2Session, socket: Duplex, bounds: H2TimeBounds, log: Logger): void {
  const open = new Set<http2.ServerHttp2Stream>();
  openStreams.set(session, open);
  let idle: NodeJS.Timeout | undefined;
  let wentAway = false;
  const disarm = () => {
    clearTimeout(idle);
    idle = undefined;
  };
  const arm = (ms: number, onExpiry: () => void) => {
    disarm();
    if (ms <= 0) return;
    idle = setTimeout(onExpiry, Math.min(ms, MAX_TIMER_MS));
    idle.unref();
  };
  const gone = () => session.closed || session.destroyed;
  const closeSoon = () => void setTimeout(() => socket.destroy(), GOAWAY_GRACE_MS).unref();
  arm(bounds.firstStreamMs, () => {
    if (!session.destroyed) session.destroy();
  });
  session.on("stream", (stream) => {
    open.add(stream);
    disarm();
    stream.once("close", () => {
      open.delete(stream);
      if (open.size > 0) return;
      // After our GOAWAY the last stream is done: the connection has nothing left to carry.
      if (wentAway) return closeSoon();
      if (gone()) return;
      arm(bounds.idleMs, () => {
        if (open.size > 0 || gone()) return;
        log.debug("h2_connection_closed", { reason: `no open stream for ${bounds.idleMs / 1000}s (timeouts.h2_idle)` });
        session.destroy(); // sends GOAWAY; Node then only half-closes the connection
        closeSoon();
      });
    });
  });
  const lifetime = bounds.lifetimeMs > 0 ? setTimeout(() => {
    if (gone()) return;
    log.info("h2_connection_closed", { reason: `connection reached timeouts.h2_lifetime (${bounds.lifetimeMs / 1000}s): GOAWAY sent, open streams may finish`, streams: open.size });
    wentAway = true;
    session.close();
    if (open.size === 0) closeSoon();
  }, Math.min(bounds.lifetimeMs, MAX_TIMER_MS)) : undefined;
  lifetime?.unref();
  session.once("close", () => {
    disarm();
    clearTimeout(lifetime);
  });
}
