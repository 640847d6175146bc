import { chooseDataPath, startSplice, type DataPathChoice, type DataPathName } from "../datapath/data-path";
import type { SessionSplice, SessionTimers, SpliceEnd } from "../datapath/session-splice";
import type { PartyRequest, RawStream } from "./party";

export interface SessionInfo {
  id: string;
  /** a = the party that waited (Mode 2, e2e client); b = the one that arrived last (Mode 1). */
  a: string;
  b: string;
  tag: string;
  route: string;
  startedAt: string;
  bytesAToB: number;
  bytesBToA: number;
  /** Which data path moves its bytes. */
  dataPath: DataPathName;
  /** Bytes the relay holds for a reader that has not taken them (pipe or write queue), each way. */
  heldAToB: number;
  heldBToA: number;
  /** Both parties have ended their side; the relay is delivering what it still holds (the flush grace runs). */
  flushing: boolean;
}

export interface Session {
  readonly id: string;
  readonly a: PartyRequest;
  readonly b: PartyRequest;
  readonly route: string;
  readonly startedAt: number;
  readonly splice: SessionSplice;
  readonly dataPath: DataPathName;
}

export interface SessionEnded {
  session: Session;
  how: SpliceEnd | "removed";
  reason?: string;
  error?: Error;
}

/** Every active session, so reload, revocation, stop and the control socket can find them. */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private nextId = 1;
  private closeReasons = new Map<string, string>();
  /** Totals over sessions that already ended; live counts are added on read. */
  private endedBytes = 0;
  /** The path new TCP sessions take; set from config (native_splice) on start and reload. */
  dataPath: DataPathChoice = chooseDataPath();
  private readonly activeByPath: Record<DataPathName, number> = { native: 0, js: 0 };

  constructor(private readonly onEnded: (e: SessionEnded) => void) {}

  /** `sharedId`: a cross-node session's id, the same on both nodes (unique: it names its node). */
  start(a: PartyRequest, rawA: RawStream, b: PartyRequest, rawB: RawStream, route: string, timers: SessionTimers, sharedId?: string): Session {
    const id = sharedId ?? (this.nextId++).toString(36);
    const { splice, path } = startSplice(rawA, rawB, (how, error) => {
      this.sessions.delete(id);
      this.activeByPath[path]--;
      const reason = this.closeReasons.get(id);
      this.closeReasons.delete(id);
      this.endedBytes += splice.stats.aToB + splice.stats.bToA;
      this.onEnded({ session, how: reason ? "removed" : how, ...(reason ? { reason } : {}), ...(error ? { error } : {}) });
    }, timers, this.dataPath.path);
    this.activeByPath[path]++;
    const session: Session = { id, a, b, route, startedAt: Date.now(), splice, dataPath: path };
    this.sessions.set(id, session);
    return session;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Active sessions by the data path that moves their bytes. */
  activeOn(path: DataPathName): number {
    return this.activeByPath[path];
  }

  /**
   * Party connections the native engine holds: Node no longer has sockets for them, so the
   * listeners' connection counts (and max_connections) add these.
   */
  get handedOffConnections(): number {
    return 2 * this.activeByPath.native;
  }

  /** Bytes relayed in both directions by all sessions, ended and live. */
  get totalBytes(): number {
    let live = 0;
    for (const s of this.sessions.values()) live += s.splice.stats.aToB + s.splice.stats.bToA;
    return this.endedBytes + live;
  }

  close(id: string, reason: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    this.closeReasons.set(id, reason);
    s.splice.close();
    return true;
  }

  /** Closes every session `shouldClose` picks; returns how many. */
  closeWhere(shouldClose: (s: Session) => boolean, reason: string): number {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (shouldClose(s)) {
        this.close(s.id, reason);
        n++;
      }
    }
    return n;
  }

  list(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      id: s.id,
      a: s.a.identity,
      b: s.b.identity,
      tag: s.a.tag,
      route: s.route,
      startedAt: new Date(s.startedAt).toISOString(),
      bytesAToB: s.splice.stats.aToB,
      bytesBToA: s.splice.stats.bToA,
      dataPath: s.dataPath,
      ...heldBytes(s.splice),
      flushing: s.splice.flushing,
    }));
  }
}

function heldBytes(splice: SessionSplice): { heldAToB: number; heldBToA: number } {
  const held = splice.held;
  return { heldAToB: held.aToB, heldBToA: held.bToA };
}
