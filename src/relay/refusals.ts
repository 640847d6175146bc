import { EventEmitter } from "node:events";
import type { Logger } from "../log/logger";

/**
 * Every party the relay turns away, on every transport, goes through here: a refusal (a
 * status the party is told) or a failed handshake (the connection is dropped). One function
 * replies, logs and reports it for counting, so no transport can forget one of the three.
 * Lines are bounded per client address (see AddressLines): a hostile peer cannot turn each of
 * its connections into a log line.
 */
export interface TurnedAway {
  /** The client address for logs: "host:port", a bare address, or "unix". */
  readonly remote?: string | undefined;
  readonly transport: "stream" | "h2" | "h2c";
  readonly identity?: string | undefined;
  readonly dest?: string | undefined;
  readonly tag?: string | undefined;
}

export interface RefusalEvents {
  refused: [who: TurnedAway, code: number, reason: string];
  handshakeFailed: [who: TurnedAway, reason: string];
}

/** How a refusal reaches the party: Mode 0 on the stream protocol, an HTTP status on h2. */
export type Reply = (code: number, reason: string) => void;

export class Refusals extends EventEmitter<RefusalEvents> {
  private readonly lines: AddressLines;

  constructor(private readonly log: Logger, limits: { intervalMs?: number; linesPerInterval?: number } = {}) {
    super();
    this.lines = new AddressLines(log, limits.intervalMs ?? 10_000, limits.linesPerInterval ?? 20);
  }

  /** Tells the party `code` and `reason`, logs `refused` and reports it for the metrics. */
  refuse(reply: Reply, who: TurnedAway, code: number, reason: string): void {
    reply(code, reason);
    if (this.lines.admit(who.remote, "refused")) {
      this.log.info("refused", { transport: who.transport, identity: who.identity, dest: who.dest, tag: who.tag, remote: who.remote, code, reason });
    }
    this.emit("refused", who, code, reason);
  }

  /** The connection is (being) dropped before a request: logs `handshake_failed` and reports it. */
  handshakeFailed(who: TurnedAway, reason: string): void {
    if (this.lines.admit(who.remote, "handshake_failed")) {
      this.log.info("handshake_failed", { transport: who.transport, identity: who.identity, remote: who.remote, reason });
    }
    this.emit("handshakeFailed", who, reason);
  }

  /** Writes the pending summaries now (at stop) and stops the interval timer. */
  flush(): void {
    this.lines.flush();
  }
}

/** At most this many addresses are tracked per interval; the rest share one summary. */
const MAX_TRACKED = 10_000;
const OTHERS = "(other addresses)";

interface Tally {
  logged: number;
  suppressed: Record<string, number>;
}

/**
 * Per client address (port dropped), the first `perInterval` lines of an interval are written
 * in full; the rest are counted and written as one `turned_away_summary` line per address when
 * the interval ends. Memory is bounded by MAX_TRACKED.
 */
export class AddressLines {
  private tallies = new Map<string, Tally>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger, private readonly intervalMs: number, private readonly perInterval: number) {}

  /** Whether this line should be written in full; otherwise it is counted for the summary. */
  admit(remote: string | undefined, event: string): boolean {
    let key = addressOf(remote);
    let t = this.tallies.get(key);
    if (!t) {
      if (this.tallies.size >= MAX_TRACKED) key = OTHERS;
      t = this.tallies.get(key) ?? { logged: 0, suppressed: {} };
      this.tallies.set(key, t);
      if (!this.timer) {
        this.timer = setTimeout(() => this.flush(), this.intervalMs);
        this.timer.unref();
      }
    }
    if (t.logged < this.perInterval && key !== OTHERS) {
      t.logged++;
      return true;
    }
    t.suppressed[event] = (t.suppressed[event] ?? 0) + 1;
    return false;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const tallies = this.tallies;
    this.tallies = new Map();
    for (const [address, t] of tallies) {
      if (Object.keys(t.suppressed).length === 0) continue;
      this.log.warn("turned_away_summary", { address, interval_s: this.intervalMs / 1000, not_logged: t.suppressed });
    }
  }
}

/** "1.2.3.4:5" → "1.2.3.4", "[::1]:5" → "::1"; bare addresses and "unix" as they are. */
export function addressOf(remote: string | undefined): string {
  if (!remote) return "?";
  const v6 = /^\[(.*)\]:\d+$/.exec(remote);
  if (v6) return v6[1] as string;
  const v4 = /^([^:]+):\d+$/.exec(remote);
  return v4 ? (v4[1] as string) : remote;
}
