import { EventEmitter } from "node:events";
import { addressKey } from "../config/address";
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

/**
 * How a refusal reaches the party: Mode 0 on the stream protocol, an HTTP status on h2. It may
 * return when the refusal has left (see PendingParty.refuse); refuse() does not wait for it.
 */
export type Reply = (code: number, reason: string) => void | Promise<void>;

export class Refusals extends EventEmitter<RefusalEvents> {
  private readonly lines: AddressLines;
  /** Peers closed at accept are never legitimate traffic: named once a minute per address. */
  private readonly atAcceptLines: AddressLines;

  constructor(private readonly log: Logger) {
    super();
    this.lines = new AddressLines(log, 10_000, 50);
    this.atAcceptLines = new AddressLines(log, 60_000, 1);
  }

  /** Tells the party `code` and `reason`, logs `refused` and reports it for the metrics. */
  refuse(reply: Reply, who: TurnedAway, code: number, reason: string): void {
    void reply(code, reason);
    if (this.lines.admit(who.remote, "refused")) {
      this.log.info("refused", { transport: who.transport, identity: who.identity, dest: who.dest, tag: who.tag, remote: who.remote, code, reason });
    }
    this.emit("refused", who, code, reason);
  }

  /**
   * No verified identity: logs `handshake_failed` and reports it. The connection is being
   * dropped, or (an HTTP/2 stream) the party is told `reply`'s 403.
   */
  handshakeFailed(who: TurnedAway, reason: string, reply?: Reply): void {
    void reply?.(403, reason);
    if (this.lines.admit(who.remote, "handshake_failed")) {
      this.log.info("handshake_failed", { transport: who.transport, identity: who.identity, remote: who.remote, reason });
    }
    this.emit("handshakeFailed", who, reason);
  }

  /** A peer the listener will not talk to at all (not a trusted front): closed at accept. */
  closedAtAccept(who: TurnedAway, reason: string): void {
    if (this.atAcceptLines.admit(who.remote, "closed_at_accept")) {
      this.log.warn("handshake_failed", { transport: who.transport, remote: who.remote, reason });
    }
    this.emit("handshakeFailed", who, reason);
  }

  /** Writes the pending summaries now (at stop) and stops the interval timers. */
  flush(): void {
    this.lines.flush();
    this.atAcceptLines.flush();
  }
}

/** At most this many addresses are tracked per interval; the rest share one summary. */
const MAX_TRACKED = 1000;
/** Full lines per interval across all addresses, so many addresses cannot flood the log either. */
const MAX_FULL_LINES = 1000;
const OTHERS = "(other addresses)";

interface Tally {
  logged: number;
  suppressed: Record<string, number>;
}

/**
 * Per client address (port dropped; IPv6 per /64, which one host commonly holds whole), the
 * first `perInterval` lines of an interval are written in full; the rest are counted and
 * written as one `turned_away_summary` line per address when the interval ends. Lines and
 * memory per interval are bounded by MAX_FULL_LINES and MAX_TRACKED whatever the addresses.
 */
export class AddressLines {
  private tallies = new Map<string, Tally>();
  private fullLines = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger, private readonly intervalMs: number, private readonly perInterval: number) {}

  /** Whether this line should be written in full; otherwise it is counted for the summary. */
  admit(remote: string | undefined, event: string): boolean {
    let key = addressKey(addressOf(remote));
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
    if (t.logged < this.perInterval && key !== OTHERS && this.fullLines < MAX_FULL_LINES) {
      t.logged++;
      this.fullLines++;
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
    this.fullLines = 0;
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

