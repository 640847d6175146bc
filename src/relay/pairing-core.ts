/** The pairing core: for each request, refuse, wait or pair (first come, first paired; here, or through a rendezvous shared with other relay processes), and the sessions of paired parties; no TLS, HTTP/2 or files. */
import { EventEmitter } from "node:events";
import { describe } from "../errors";
import type { Logger } from "../log/logger";
import { RefusalCode, type PendingParty, type PartyRequest } from "./party";
import { Refusals, type TurnedAway } from "./refusals";
import { RouteTable } from "./routes";
import { SessionRegistry, type SessionEnded } from "./sessions";
import type { SessionTimers } from "../datapath/session-splice";
import type { Meeting, RemoteClaimant, RemotePeer, SharedRendezvous } from "./shared-rendezvous";

/** The part of the config the pairing core acts on; swapped whole on reload. */
export interface RelayPolicy extends SessionTimers {
  readonly routes: RouteTable;
  readonly pairMs: number;
  readonly maxWaitingPerIdentity: number;
  /** Serials of revoked relay certificates (from the CRL the transports were given). */
  readonly isRevoked: (serial: string) => boolean;
}

interface Waiter {
  readonly id: string;
  readonly key: string;
  readonly party: PendingParty;
  readonly since: number;
  readonly timer: NodeJS.Timeout;
  readonly route: string;
}

export interface PairingCoreEvents {
  waiting: [req: PartyRequest];
  paired: [a: PartyRequest, b: PartyRequest, route: string, waitedMs: number];
  closed: [e: SessionEnded];
}

/**
 * Rendezvous and sessions: decides for each request (route? wait? pair?) and splices pairs.
 * Knows nothing of TLS, HTTP/2 or files; a test can build it with a policy and nothing else.
 */
export class PairingCore extends EventEmitter<PairingCoreEvents> {
  private policy: RelayPolicy;
  /** (identity, dest, tag) → waiters, oldest first. */
  private readonly waiting = new Map<string, Waiter[]>();
  private readonly waitingPerIdentity = new Map<string, number>();
  private waitingTotal = 0;
  private draining = false;
  /** Waiters by id, for claims made through a shared rendezvous. */
  private readonly byId = new Map<string, Waiter>();
  private nextWaiterId = 1;
  private shared: SharedRendezvous | undefined;
  readonly sessions: SessionRegistry;
  /** Every refusal and failed handshake, the transports' included, is replied, logged and counted here. */
  readonly refusals: Refusals;

  constructor(policy: RelayPolicy, private readonly log: Logger) {
    super();
    this.policy = policy;
    this.refusals = new Refusals(log);
    this.sessions = new SessionRegistry((e) => this.emit("closed", e));
  }

  get waitingCount(): number {
    return this.waitingTotal;
  }

  submit(party: PendingParty): void {
    const req = party.request;
    const refuse = (code: number, reason: string) => this.refuse(party, code, reason);
    if (this.draining) return refuse(RefusalCode.unavailable, "relay is shutting down; retry later");
    if (req.identity === req.dest) return refuse(RefusalCode.forbidden, `${req.identity} cannot connect to itself`);
    const route = this.policy.routes.find(req.identity, req.dest);
    if (!route) return refuse(RefusalCode.forbidden, `no route between ${req.identity} and ${req.dest}`);
    if (this.shared) return void this.meetShared(this.shared, party, route.name);

    const peerQueue = this.waiting.get(key(req.dest, req.identity, req.tag));
    const waiter = peerQueue?.shift();
    if (waiter) {
      if (peerQueue && peerQueue.length === 0) this.waiting.delete(key(req.dest, req.identity, req.tag));
      this.forget(waiter);
      this.pair(waiter, party, route.name);
      return;
    }

    const count = this.waitingPerIdentity.get(req.identity) ?? 0;
    if (count >= this.policy.maxWaitingPerIdentity) return this.refuseTooMany(party, count);
    this.enqueue(party, route.name);
    this.emit("waiting", req);
  }

  private refuseTooMany(party: PendingParty, count: number): void {
    const reason = `${party.request.identity} already has ${count} connections waiting; wait for them to pair`;
    this.refuse(party, RefusalCode.tooMany, reason);
  }

  private enqueue(party: PendingParty, route: string, id = (this.nextWaiterId++).toString(36)): Waiter {
    const req = party.request;
    const ownKey = key(req.identity, req.dest, req.tag);
    const pairMs = this.policy.pairMs;
    const entry: Waiter = {
      id,
      key: ownKey,
      party,
      since: Date.now(),
      route,
      timer: setTimeout(() => {
        this.remove(ownKey, entry);
        const reason = `${req.dest} did not connect within ${pairMs / 1000}s`;
        this.refuse(party, RefusalCode.timeout, reason);
      }, pairMs),
    };
    const queue = this.waiting.get(ownKey);
    if (queue) queue.push(entry);
    else this.waiting.set(ownKey, [entry]);
    this.byId.set(id, entry);
    this.waitingPerIdentity.set(req.identity, (this.waitingPerIdentity.get(req.identity) ?? 0) + 1);
    this.waitingTotal++;
    party.onGone(() => this.remove(ownKey, entry));
    return entry;
  }

  /**
   * Pairing through a rendezvous shared with other relay processes. The party joins this relay's
   * waiting table first, so an owner's claim over the link finds it even before `meet` answers.
   */
  private async meetShared(shared: SharedRendezvous, party: PendingParty, route: string): Promise<void> {
    const req = party.request;
    const count = this.waitingPerIdentity.get(req.identity) ?? 0;
    const mayWait = count < this.policy.maxWaitingPerIdentity;
    const self = this.enqueue(party, route);
    let meeting: Meeting;
    try {
      meeting = await shared.meet({ id: self.id, request: req }, mayWait);
    } catch {
      meeting = { kind: "unshared" };
    }
    // Gone, timed out, refused by a reload or claimed by another node meanwhile.
    const stillHere = this.byId.get(self.id) === self;
    if (meeting.kind === "refused") {
      if (!stillHere) return;
      this.remove(self.key, self);
      return this.refuse(party, meeting.code, meeting.reason);
    }
    if (meeting.kind === "remote") {
      if (!stillHere) return meeting.peer.abort();
      this.remove(self.key, self);
      return this.pairRemote(meeting.peer, party, route);
    }
    if (meeting.kind === "local") {
      const waiter = this.byId.get(meeting.id);
      if (!stillHere) {
        if (waiter) shared.restore({ id: waiter.id, request: waiter.party.request });
        return;
      }
      this.remove(self.key, self);
      // The waiter left between its claim and now: look again (each round takes one entry).
      if (!waiter) return this.meetShared(shared, party, route);
      this.remove(waiter.key, waiter);
      return this.pair(waiter, party, route);
    }
    if (!stillHere) return;
    if (meeting.kind === "unshared") {
      // Without the shared store, this relay's own parties still meet here.
      const peer = this.waiting.get(key(req.dest, req.identity, req.tag))?.[0];
      if (peer) {
        this.remove(self.key, self);
        this.remove(peer.key, peer);
        return this.pair(peer, party, route);
      }
    }
    if (!mayWait) {
      this.remove(self.key, self);
      return this.refuseTooMany(party, count);
    }
    this.emit("waiting", req);
  }

  /** The arriving side of a cross-node pair: Mode 1 here first, then the owner sends Mode 2. */
  private pairRemote(peer: RemotePeer, arriving: PendingParty, route: string): void {
    const b = arriving.request;
    const rawB = arriving.accept(1);
    // As in pair(): the reply first, the "paired" line once it is out (or failed). The owner
    // side (handOver) still tells it at once: its waiter's reply waits on this node anyway.
    rawB.then(
      (sb) => {
        this.emit("paired", peer.request, b, route, 0);
        const sa = peer.go(sb);
        if (sa) this.sessions.start(peer.request, sa, b, sb, route, this.policy, peer.sessionId);
      },
      (err: unknown) => {
        this.emit("paired", peer.request, b, route, 0);
        peer.abort();
        this.log.info("pair_failed", { a: peer.request.identity, b: b.identity, tag: b.tag, session: peer.sessionId, reason: describe(err) });
      },
    );
  }

  /**
   * The owner side of a cross-node pair: another node claimed waiter `id` for its arriving party.
   * Undefined if the waiter is no longer here. The waiter gets Mode 2 only once the claimant's
   * party has its Mode 1; if that never happens, the waiter waits again.
   */
  handOver(id: string, claimant: RemoteClaimant): { request: PartyRequest; waitedMs: number } | undefined {
    const w = this.byId.get(id);
    if (!w || this.draining) return undefined;
    this.remove(w.key, w);
    const a = w.party.request;
    let gone = false;
    w.party.onGone(() => (gone = true));
    const waitedMs = Date.now() - w.since;
    this.emit("paired", a, claimant.request, w.route, waitedMs);
    claimant.ready.then(
      (link) =>
        w.party.accept(2).then(
          (sa) => void this.sessions.start(a, sa, claimant.request, link, w.route, this.policy, claimant.sessionId),
          (err: unknown) => {
            link.stream.destroy();
            this.log.info("pair_failed", { a: a.identity, b: claimant.request.identity, tag: a.tag, session: claimant.sessionId, reason: describe(err) });
          },
        ),
      () => {
        if (gone || this.draining) return;
        const again = this.enqueue(w.party, w.route, w.id);
        this.shared?.restore({ id: again.id, request: a });
      },
    );
    return { request: a, waitedMs };
  }

  /** From now on, pairing goes through `shared` (a cluster); waiting parties are announced by it. */
  useSharedRendezvous(shared: SharedRendezvous | undefined): void {
    this.shared = shared;
  }

  private remove(k: string, w: Waiter): void {
    const queue = this.waiting.get(k);
    const i = queue ? queue.indexOf(w) : -1;
    if (!queue || i < 0) return;
    queue.splice(i, 1);
    if (queue.length === 0) this.waiting.delete(k);
    this.forget(w);
  }

  /** Bookkeeping for a waiter that left the queue (paired, gone, timed out or closed). */
  private forget(w: Waiter): void {
    clearTimeout(w.timer);
    if (this.byId.get(w.id) === w) this.byId.delete(w.id);
    this.shared?.withdraw(w.id);
    const id = w.party.request.identity;
    const n = (this.waitingPerIdentity.get(id) ?? 1) - 1;
    if (n > 0) this.waitingPerIdentity.set(id, n);
    else this.waitingPerIdentity.delete(id);
    this.waitingTotal--;
  }

  private pair(waiter: Waiter, arriving: PendingParty, route: string): void {
    const a = waiter.party.request;
    const b = arriving.request;
    // Mode 1 to the party that arrived last (the end-to-end TLS server); the waiting one's Mode 2
    // (the client, which then sends its ClientHello) goes out only once Mode 1 and its
    // close_notify are written. A Flock client reads its reply through a TLS stack that reads
    // ahead: had the peer's ClientHello come before its close_notify, it would be lost. Mode 1
    // is written first: over Node's TLS each reply's close_notify comes a turn later, in the
    // order the replies were written, so Mode 1 then leaves ahead of the turn's other work and
    // Mode 2, ready behind it in the same turn, loses nothing.
    const rawB = arriving.accept(1);
    const rawA = waiter.party.accept(2, rawB);
    // Replies first, bookkeeping after: the reply's close_notify and its TCP write take event-loop
    // turns, and the "paired" line (winston, metrics) run in this turn held each of them back:
    // measured in the relay, request in → reply written fell from ~0.59 to ~0.37 ms (p50) when
    // the line moved behind the replies. So "paired" is told once both replies are out, or as
    // soon as one of them failed (then just ahead of pair_failed).
    const waitedMs = Date.now() - waiter.since;
    Promise.all([rawA, rawB]).then(
      ([sa, sb]) => {
        this.emit("paired", a, b, route, waitedMs);
        // A party that vanished while the other's reply went out has closed already: the splice
        // would never hear of it, and its peer would wait for nothing.
        const gone = sa.stream.destroyed ? a : sb.stream.destroyed ? b : undefined;
        if (!gone) return void this.sessions.start(a, sa, b, sb, route, this.policy);
        this.log.info("pair_failed", { a: a.identity, b: b.identity, tag: a.tag, reason: `${gone.identity} disconnected right after its reply` });
        sa.stream.destroy();
        sb.stream.destroy();
      },
      (err: unknown) => {
        this.emit("paired", a, b, route, waitedMs);
        this.log.info("pair_failed", { a: a.identity, b: b.identity, tag: a.tag, reason: describe(err) });
        void rawA.then((s) => s.stream.destroy(), () => undefined);
        void rawB.then((s) => s.stream.destroy(), () => undefined);
      },
    );
  }

  /**
   * Swaps in a new policy. Waiting parties and sessions whose route is gone are closed (403),
   * as are those of revoked certificates; everything else is untouched.
   */
  setPolicy(policy: RelayPolicy): { closedSessions: number; closedWaiting: number } {
    this.policy = policy;
    const stillAllowed = (r: PartyRequest, peer: string) =>
      policy.routes.find(r.identity, peer) !== undefined && !policy.isRevoked(r.certSerial);
    let closedWaiting = 0;
    for (const [k, queue] of [...this.waiting]) {
      for (const w of [...queue]) {
        const r = w.party.request;
        if (!stillAllowed(r, r.dest)) {
          this.remove(k, w);
          const why = policy.isRevoked(r.certSerial) ? `certificate of ${r.identity} was revoked` : `no route between ${r.identity} and ${r.dest}`;
          this.refuse(w.party, RefusalCode.forbidden, why);
          closedWaiting++;
        }
      }
    }
    const closedSessions = this.sessions.closeWhere(
      (s) => !stillAllowed(s.a, s.b.identity) || !stillAllowed(s.b, s.a.identity),
      "route removed or certificate revoked",
    );
    return { closedSessions, closedWaiting };
  }

  /**
   * Stops pairing: new requests get 503, waiting parties are refused 503. Sessions go on.
   * Resolves once those refusals have left (or their parties are gone): closing the
   * connections before that would turn a 503 into a bare close.
   */
  startDraining(): Promise<void> {
    this.draining = true;
    const sent: Promise<void>[] = [];
    for (const [k, queue] of [...this.waiting]) {
      for (const w of [...queue]) {
        this.remove(k, w);
        const reply = (code: number, reason: string) => {
          sent.push(Promise.resolve(w.party.refuse(code, reason)));
        };
        this.refusals.refuse(reply, turnedAway(w.party.request), RefusalCode.unavailable, "relay is shutting down; retry later");
      }
    }
    return Promise.all(sent).then(() => undefined);
  }

  private refuse(party: PendingParty, code: number, reason: string): void {
    this.refusals.refuse((c, r) => party.refuse(c, r), turnedAway(party.request), code, reason);
  }

  get isDraining(): boolean {
    return this.draining;
  }
}

/** What the log and metrics learn of a refused party. */
export function turnedAway(r: PartyRequest): TurnedAway {
  return { remote: r.remote, transport: r.transport, identity: r.identity, dest: r.dest, tag: r.tag };
}

function key(identity: string, dest: string, tag: string): string {
  return `${identity}\n${dest}\n${tag}`;
}
