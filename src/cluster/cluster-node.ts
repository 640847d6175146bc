/** One relay process as a cluster member (ClusterNode): the shared rendezvous on Redis, and the node link in both directions. */
import type * as tls from "node:tls";
import { Counter, Gauge, type Registry } from "prom-client";
import type { ClusterConfig } from "../config/load";
import { describe } from "../errors";
import type { Logger } from "../log/logger";
import type { PairingCore } from "../relay/pairing-core";
import type { Meeting, RemotePeer, SharedRendezvous, WaitingRef } from "../relay/shared-rendezvous";
import { RefusalCode, type RawStream } from "../relay/party";
import { GO_TIMEOUT_MS, LinkError, LinkServer, dialClaim, readLine, writeLine, type ClaimMessage, type LinkTls } from "./node-link";
import { RedisStore } from "./redis-store";
import { SIBLINGS_ENV, SiblingError, SiblingLink, type SiblingMessage, type SiblingOwner } from "./sibling-link";

const EMPTY = Buffer.alloc(0);
/** Claims one arriving party may lose (waiter gone, owner unreachable) before it simply waits. */
const MAX_ROUNDS = 8;
/** A queue outlives its newest waiter by this much, then Redis drops it. */
const QUEUE_SLACK_MS = 5000;

/** This process's open party connections against its limits.max_connections, as its listeners count them. */
export interface ConnectionLoad {
  readonly open: number;
  readonly max: number;
}

interface Published {
  readonly queue: string;
  readonly entry: string;
}

export interface ClusterStatus {
  node: string;
  incarnation: string;
  peer_address: string;
  redis: "up" | "down";
  redis_rtt_ms: number | null;
  cross_node_sessions: number;
  /** Pairs whose arriving party's connection was handed to a sibling worker (no node link). */
  handovers: number;
  claims_lost: number;
  link_errors: number;
}

/**
 * One relay process as a member of a cluster: implements the relay's shared rendezvous on
 * Redis, serves the node-to-node link for its own waiters, and dials other nodes' links for
 * its arriving parties.
 */
export class ClusterNode implements SharedRendezvous, SiblingOwner {
  private readonly store: RedisStore;
  private readonly linkServer: LinkServer;
  /** Waiters of this node that should be in Redis: re-sent when Redis comes back. */
  private readonly published = new Map<string, Published>();
  private nextSession = 1;
  private boundPeer: string;
  private readonly counts = { crossNode: 0, handovers: 0, claimsLost: 0, linkErrors: 0 };
  private readonly metrics: { crossNode: Counter; handovers: Counter; claimsLost: Counter; linkErrors: Counter };
  /** Present in a worker of `start --workers N`: its sibling workers are reached over IPC. */
  private readonly siblings: SiblingLink | undefined;
  /**
   * Claims of this node's waiters by siblings, awaiting their party's connection. Each holds
   * a connection slot from the moment the claim is accepted (see heldConnections).
   */
  private readonly awaitingParty = new Map<string, (raw: RawStream | undefined, why?: string) => void>();
  /** Party connections handed over by siblings that this process holds (until they close). */
  private readonly adopted = new Set<RawStream["stream"]>();

  constructor(
    private readonly config: ClusterConfig,
    private readonly link: LinkTls,
    private readonly relay: PairingCore,
    private readonly pairMs: () => number,
    private readonly log: Logger,
    registry: Registry,
    /** The listeners' count (which includes heldConnections) and the limit, for claims by siblings. */
    private readonly load: () => ConnectionLoad,
  ) {
    this.boundPeer = config.peerAddress.text;
    const token = process.env[SIBLINGS_ENV];
    this.siblings = token && process.send ? new SiblingLink(config.node, token, this) : undefined;
    this.store = new RedisStore(config.redis, config.node, this.boundPeer, log, this.siblings?.token);
    this.store.on("up", () => void this.republish());
    this.linkServer = new LinkServer(link, (msg, sock) => this.onClaim(msg, sock), log);
    this.metrics = {
      crossNode: new Counter({ name: "frelay_cluster_cross_node_sessions_total", help: "Sessions whose two parties are on two nodes (counted on both)", registers: [registry] }),
      handovers: new Counter({ name: "frelay_cluster_handovers_total", help: "Pairs met across sibling workers whose arriving party's connection moved to the waiter's worker (counted on both)", registers: [registry] }),
      claimsLost: new Counter({ name: "frelay_cluster_claims_lost_total", help: "Claimed waiters that were gone when reached (lost races)", registers: [registry] }),
      linkErrors: new Counter({ name: "frelay_cluster_link_errors_total", help: "Node-to-node links that failed", registers: [registry] }),
    };
    const store = this.store;
    new Gauge({ name: "frelay_cluster_redis_up", help: "1 while Redis is reachable", registers: [registry], collect() { this.set(store.up ? 1 : 0); } });
    new Gauge({
      name: "frelay_cluster_redis_rtt_seconds",
      help: "Round-trip time of the last Redis heartbeat",
      registers: [registry],
      collect() {
        if (store.lastRttMs !== undefined && store.lastRttMs >= 0) this.set(store.lastRttMs / 1000);
      },
    });
  }

  /** Binds peer_address, then joins Redis (or keeps trying in the background: local pairing works meanwhile). */
  async start(): Promise<void> {
    const bound = await this.linkServer.listen(this.config.peerAddress);
    // Port 0 (tests, workers): announce the port actually bound.
    if (this.config.peerAddress.port === 0) this.boundPeer = bound;
    this.store.peerAddress = this.boundPeer;
    this.log.info("listen", { transport: "cluster-link", address: this.boundPeer, node: this.config.node });
    await this.store.start();
  }

  /** Draining: no new links, and Redis forgets this node at once (its waiters were withdrawn just before). */
  async leave(): Promise<void> {
    this.linkServer.close();
    await this.store.stop();
  }

  /** Stopped: links still open (sessions past the drain) are cut. */
  close(): void {
    this.linkServer.destroyAll();
    this.siblings?.close();
    for (const s of this.adopted) s.destroy();
  }

  /**
   * Party connections this process holds that none of its listeners accepted: those handed over
   * by sibling workers, and the ones promised by an accepted claim and still on their way. The
   * listeners add them to their own for limits.max_connections, status and metrics. (Once a
   * session moves to the native data path, its connections are counted by the session registry
   * instead: Node's socket is gone, and so is it from here.)
   */
  get heldConnections(): number {
    return this.awaitingParty.size + this.adopted.size;
  }

  status(): ClusterStatus {
    return {
      node: this.config.node,
      incarnation: this.store.incarnation,
      peer_address: this.boundPeer,
      redis: this.store.up ? "up" : "down",
      redis_rtt_ms: this.store.lastRttMs !== undefined && this.store.lastRttMs >= 0 ? Math.round(this.store.lastRttMs * 100) / 100 : null,
      cross_node_sessions: this.counts.crossNode,
      handovers: this.counts.handovers,
      claims_lost: this.counts.claimsLost,
      link_errors: this.counts.linkErrors,
    };
  }

  private queueTtl(): number {
    return this.pairMs() + QUEUE_SLACK_MS;
  }

  async meet(self: WaitingRef, mayWait: boolean): Promise<Meeting> {
    const r = self.request;
    const queues = this.store.queues(r.identity, r.dest, r.tag);
    const entry = this.store.entryOf(self.id);
    // Known before the script runs: a withdraw meanwhile must find it (and is sent after it).
    if (mayWait) this.published.set(self.id, { queue: queues.own, entry });
    if (!this.store.up) return { kind: "unshared" };
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let claimed;
      try {
        claimed = await this.store.meet(queues, mayWait && this.published.has(self.id) ? entry : "", this.queueTtl());
      } catch (err) {
        this.log.warn("cluster_meet_failed", { error: describe(err) });
        return { kind: "unshared" };
      }
      if (!claimed) return { kind: "waiting" };
      this.published.delete(self.id);
      if (claimed.node === this.config.node && claimed.incarnation === this.store.incarnation) {
        this.published.delete(claimed.id);
        return { kind: "local", id: claimed.id };
      }
      try {
        // A sibling worker's waiter meets a stream party by hand-over; anything else over the link.
        const sibling = this.siblings?.isSibling(claimed.incarnation) && r.transport === "stream";
        const peer = sibling ? await this.claimSibling(claimed.node, claimed.incarnation, claimed.id, self) : await this.claimRemote(claimed.peerAddress, claimed.node, claimed.id, self);
        return { kind: "remote", peer };
      } catch (err) {
        if (err instanceof SiblingError && err.refusal) return { kind: "refused", ...err.refusal };
        const gone = (err instanceof LinkError || err instanceof SiblingError) && err.gone;
        if (gone) {
          this.counts.claimsLost++;
          this.metrics.claimsLost.inc();
        } else {
          this.counts.linkErrors++;
          this.metrics.linkErrors.inc();
          this.log.warn("link_error", { peer_node: claimed.node, peer_address: claimed.peerAddress, error: describe(err) });
        }
        if (mayWait) this.published.set(self.id, { queue: queues.own, entry });
      }
    }
    return { kind: "waiting" };
  }

  private newSessionId(): string {
    return `${this.config.node}-${this.store.incarnation}-${(this.nextSession++).toString(36)}`;
  }

  /**
   * The arriving side of a pair with a sibling worker's waiter: once its party has Mode 1, the
   * party's connection goes to the sibling, which splices the pair; nothing is left here.
   */
  private async claimSibling(node: string, incarnation: string, id: string, self: WaitingRef): Promise<RemotePeer> {
    const siblings = this.siblings as SiblingLink;
    const sessionId = this.newSessionId();
    const reply = await siblings.claim(node, incarnation, id, sessionId, self.request);
    this.handedOver(sessionId, "arriving", node, self.request.tag);
    return {
      request: { ...reply.request, remote: `node:${node}` },
      sessionId,
      go: (own) => {
        siblings.handOver(node, sessionId, own, (err) => {
          this.counts.linkErrors++;
          this.metrics.linkErrors.inc();
          this.log.warn("handover_failed", { session: sessionId, peer_node: node, error: describe(err) });
        });
        return undefined;
      },
      abort: () => siblings.abort(node, sessionId),
    };
  }

  /**
   * The owner's side of a sibling's claim: the waiter is reserved until the party's connection
   * arrives (bounded). The connection will live here, so it must fit under this process's
   * limits.max_connections: at the limit the claim is refused, the claimant's party gets the 429
   * it would get from a full listener, and the waiter stays, at the head of its queue again.
   */
  onSiblingClaim(msg: SiblingMessage): void {
    const siblings = this.siblings as SiblingLink;
    if (msg.incarnation !== this.store.incarnation || !msg.claim || !msg.request) return siblings.reply(msg, { ok: false, reason: "gone" });
    const { open, max } = this.load();
    if (open >= max) {
      const reason = `relay worker ${this.config.node}, where ${msg.request.dest} waits, is at its connection limit (limits.max_connections is ${max}); retry later`;
      this.requeue(msg.claim);
      this.log.info("handover_refused", { session: msg.session, peer_node: msg.from, tag: msg.request.tag, open, max });
      return siblings.reply(msg, { ok: false, reason, refusal: RefusalCode.tooMany });
    }
    const session = msg.session;
    const ready = new Promise<RawStream>((resolve, reject) => {
      const timer = setTimeout(() => settle(undefined, `no connection from worker ${msg.from} within ${GO_TIMEOUT_MS / 1000}s`), GO_TIMEOUT_MS);
      const settle = (raw: RawStream | undefined, why = `the party of worker ${msg.from} left before its reply`) => {
        clearTimeout(timer);
        this.awaitingParty.delete(session);
        if (raw) resolve(raw);
        else reject(new SiblingError(why));
      };
      this.awaitingParty.set(session, settle);
    });
    ready.catch(() => undefined);
    const waiter = this.relay.handOver(msg.claim, { request: msg.request, sessionId: session, ready });
    if (!waiter) {
      this.awaitingParty.get(session)?.(undefined);
      return siblings.reply(msg, { ok: false, reason: "gone" });
    }
    this.handedOver(session, "owner", msg.from, msg.request.tag);
    siblings.reply(msg, { ok: true, request: waiter.request, waitedMs: waiter.waitedMs });
  }

  onSiblingParty(session: string, raw: RawStream | undefined, why?: string): void {
    const settle = this.awaitingParty.get(session);
    if (!settle) return void raw?.stream.destroy(); // too late: the waiter went back to waiting
    if (!raw && why) this.log.warn("handover_failed", { session, role: "owner", error: why });
    // Counted from here until it closes, in the same turn as its claim's slot is given back.
    if (raw) this.adopt(raw.stream);
    settle(raw, why);
  }

  private adopt(stream: RawStream["stream"]): void {
    if (stream.destroyed) return;
    this.adopted.add(stream);
    stream.once("close", () => this.adopted.delete(stream));
  }

  /** A waiter of this node, claimed from Redis but not taken: back at the head of its queue. */
  private requeue(id: string): void {
    const p = this.published.get(id);
    if (p && this.store.up) this.store.requeue(p.queue, p.entry, "head", this.queueTtl()).catch(() => undefined);
  }

  private handedOver(session: string, role: "arriving" | "owner", peerNode: string, tag: string): void {
    this.counts.handovers++;
    this.metrics.handovers.inc();
    this.log.info("handover", { session, role, peer_node: peerNode, tag });
  }

  private async claimRemote(peerAddress: string, node: string, id: string, self: WaitingRef): Promise<RemotePeer> {
    const sessionId = this.newSessionId();
    const msg: ClaimMessage = { claim: id, session: sessionId, from: this.config.node, request: self.request };
    const { sock, reply, resumed } = await dialClaim(this.link, peerAddress, msg);
    const request = { ...(reply.request as RemotePeer["request"]), remote: `node:${node}` };
    this.crossNode(sessionId, "arriving", node, resumed);
    return {
      request,
      sessionId,
      go: (): RawStream => {
        writeLine(sock, { go: true });
        return { stream: sock, leftover: EMPTY };
      },
      abort: () => sock.destroy(),
    };
  }

  /** The owner's side: a node claimed one of this node's waiters. */
  private onClaim(msg: ClaimMessage, sock: tls.TLSSocket): void {
    const ready = readLine(sock, GO_TIMEOUT_MS).then((line): RawStream => {
      if (!(JSON.parse(line) as { go?: boolean }).go) throw new LinkError("expected go");
      return { stream: sock, leftover: EMPTY };
    });
    ready.catch(() => sock.destroy());
    const request = { ...msg.request, remote: `node:${msg.from}` };
    const waiter = this.relay.handOver(msg.claim, { request, sessionId: msg.session, ready });
    if (!waiter) {
      writeLine(sock, { ok: false, reason: "gone" });
      sock.end();
      return;
    }
    this.crossNode(msg.session, "owner", msg.from);
    writeLine(sock, { ok: true, request: waiter.request, waited_ms: waiter.waitedMs });
  }

  private crossNode(session: string, role: "arriving" | "owner", peerNode: string, linkResumed?: boolean): void {
    this.counts.crossNode++;
    this.metrics.crossNode.inc();
    this.log.info("cross_node", { session, role, peer_node: peerNode, ...(linkResumed !== undefined ? { link_resumed: linkResumed } : {}) });
  }

  withdraw(id: string): void {
    const p = this.published.get(id);
    if (!p) return;
    this.published.delete(id);
    this.store.withdraw(p.queue, p.entry);
  }

  restore(self: WaitingRef): void {
    const r = self.request;
    const queue = this.store.queues(r.identity, r.dest, r.tag).own;
    const entry = this.store.entryOf(self.id);
    this.published.set(self.id, { queue, entry });
    if (this.store.up) this.store.requeue(queue, entry, "head", this.queueTtl()).catch(() => undefined);
  }

  /** Redis is back (or was restarted empty): this node's waiters are queued again, oldest first. */
  private async republish(): Promise<void> {
    const ttl = this.queueTtl();
    for (const p of [...this.published.values()]) {
      await this.store.requeue(p.queue, p.entry, "tail", ttl).catch(() => undefined);
    }
    if (this.published.size > 0) this.log.info("cluster_rejoined", { node: this.config.node, waiters: this.published.size });
  }
}
