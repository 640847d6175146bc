/** Everything a node says to Redis: its heartbeat, the waiting queues and their scripts, and the reachability probe `frelay check` uses. */
import * as crypto from "node:crypto";
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import { describe } from "../errors";
import type { Logger } from "../log/logger";

/** How often a node says it is alive, and how long the word lasts: a dead node's waiters stop being handed out within NODE_TTL_MS. */
export const HEARTBEAT_MS = 1000;
export const NODE_TTL_MS = 3000;
/** Bound on every Redis command: past it the node pairs its own parties alone. */
const COMMAND_TIMEOUT_MS = 1500;

/**
 * Atomic meet: take the oldest live waiter of the peer queue, or (if none and allowed) queue
 * this party in its own. One script, so two parties arriving for each other on two nodes at
 * the same moment cannot both end up waiting, and a waiter is handed to exactly one claimant.
 * Entries are "node|incarnation|id"; an entry whose node is no longer alive (its heartbeat key
 * expired, or it restarted with a new incarnation) is dropped on the way.
 *   KEYS[1] the queue of waiters this party may pair with   KEYS[2] its own queue
 *   ARGV[1] its own entry ('' = may not wait)   ARGV[2] node key prefix   ARGV[3] queue expiry ms
 */
export const MEET_LUA = `
while true do
  local e = redis.call('LPOP', KEYS[1])
  if not e then break end
  local node, inc = string.match(e, '^([^|]*)|([^|]*)|')
  local alive = node and redis.call('GET', ARGV[2] .. node)
  if alive then
    local ainc, peer = string.match(alive, '^([^|]*)|(.*)$')
    if ainc == inc then return {e, peer} end
  end
end
if ARGV[1] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return false
`;

export interface Claimed {
  readonly node: string;
  readonly incarnation: string;
  readonly id: string;
  /** The owner's peer_address, as its heartbeat announces it. */
  readonly peerAddress: string;
  readonly entry: string;
}

interface StoreEvents {
  up: [];
  down: [reason: string];
}

type MeetCommand = (k1: string, k2: string, entry: string, prefix: string, ttl: string) => Promise<[string, string] | null>;

/**
 * This node's view of the shared rendezvous in Redis: the heartbeat, the queues and their
 * scripts, and whether Redis can be reached at all. Every command fails fast (no offline
 * queue, bounded time): a caller that gets an error pairs locally and tries again later.
 */
export class RedisStore extends EventEmitter<StoreEvents> {
  /** This run of the node; `<siblings token>.<random>` for a worker of `start --workers N`. */
  readonly incarnation: string;
  private readonly redis: Redis;
  private heartbeat: NodeJS.Timeout | undefined;
  private isUp = false;
  private stopped = false;
  private downReported = false;
  /** Round-trip time of the last heartbeat, in ms. */
  lastRttMs: number | undefined;
  private readonly prefix: string;

  /** `peerAddress`: what the heartbeat announces; set before start(). */
  constructor(url: string, readonly node: string, public peerAddress: string, private readonly log: Logger, siblingsToken?: string) {
    super();
    const own = crypto.randomBytes(4).toString("hex");
    this.incarnation = siblingsToken ? `${siblingsToken}.${own}` : own;
    this.prefix = "frelay:";
    this.redis = new Redis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: COMMAND_TIMEOUT_MS,
      // Keep trying for as long as the node runs: it rejoins when Redis comes back.
      retryStrategy: (n) => Math.min(100 * n, 1000),
    });
    this.redis.defineCommand("frelayMeet", { numberOfKeys: 2, lua: MEET_LUA });
    this.redis.on("ready", () => void this.beat().then(() => this.setUp()));
    this.redis.on("error", (err) => this.setDown(describe(err)));
    this.redis.on("close", () => this.setDown("connection closed"));
  }

  get up(): boolean {
    return this.isUp;
  }

  /** Connects (or keeps trying in the background); resolves once the first attempt is decided. */
  async start(): Promise<void> {
    this.heartbeat = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    try {
      await this.redis.connect();
      await this.beat();
      this.setUp();
    } catch (err) {
      this.setDown(describe(err));
    }
  }

  private setUp(): void {
    if (this.isUp || this.stopped || this.redis.status !== "ready") return;
    this.isUp = true;
    this.downReported = false;
    this.log.info("cluster_redis", { state: "up", node: this.node });
    this.emit("up");
  }

  private setDown(reason: string): void {
    if (this.stopped) return;
    const wasUp = this.isUp;
    this.isUp = false;
    // Said once per outage: the client retries every second and errors each time.
    if (!wasUp && this.downReported) return;
    this.downReported = true;
    this.log.warn("cluster_redis", { state: "down", node: this.node, reason, message: "Redis unreachable: pairing this node's own parties only until it is back" });
    this.emit("down", reason);
  }

  /** The heartbeat: this node is alive, at this incarnation, reachable at peer_address. */
  private async beat(): Promise<void> {
    if (this.stopped || this.redis.status !== "ready") return;
    const t0 = process.hrtime.bigint();
    try {
      await this.redis.set(this.nodeKey(this.node), `${this.incarnation}|${this.peerAddress}`, "PX", NODE_TTL_MS);
      this.lastRttMs = Number(process.hrtime.bigint() - t0) / 1e6;
    } catch (err) {
      this.setDown(describe(err));
    }
  }

  private nodeKey(node: string): string {
    return `${this.prefix}node:${node}`;
  }

  /**
   * The two queues of one pair of identities and tag. Both carry the same hash tag, the pair key
   * with the identities in canonical order, so a sharded Redis would keep them together.
   */
  queues(identity: string, dest: string, tag: string): { own: string; peer: string } {
    const pair = JSON.stringify(identity < dest ? [identity, dest, tag] : [dest, identity, tag]);
    return { own: `${this.prefix}q:{${pair}}:${identity}`, peer: `${this.prefix}q:{${pair}}:${dest}` };
  }

  entryOf(id: string): string {
    return `${this.node}|${this.incarnation}|${id}`;
  }

  async meet(queues: { own: string; peer: string }, ownEntry: string, queueTtlMs: number): Promise<Claimed | undefined> {
    const meet = (this.redis as unknown as { frelayMeet: MeetCommand }).frelayMeet.bind(this.redis);
    const r = await meet(queues.peer, queues.own, ownEntry, `${this.prefix}node:`, String(queueTtlMs));
    if (!r) return undefined;
    const [entry, peerAddress] = r;
    const [node, incarnation, id] = entry.split("|") as [string, string, string];
    return { node, incarnation, id, peerAddress, entry };
  }

  /** Withdraws an entry (its party left). Errors are only logged: a stale entry is skipped by its claimant. */
  withdraw(queue: string, entry: string): void {
    if (!this.isUp) return;
    this.redis.lrem(queue, 1, entry).catch(() => undefined);
  }

  /** Queues entries again: at the head (a waiter whose claimant vanished) or the tail (rejoining). */
  requeue(queue: string, entry: string, at: "head" | "tail", ttlMs: number): Promise<unknown> {
    const multi = this.redis.multi().lrem(queue, 0, entry);
    if (at === "head") multi.lpush(queue, entry);
    else multi.rpush(queue, entry);
    return multi.pexpire(queue, ttlMs).exec();
  }

  /** Leaves: the node key goes at once, so nobody is sent here any more. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    if (this.redis.status === "ready") {
      await this.redis.del(this.nodeKey(this.node)).catch(() => undefined);
      await this.redis.quit().catch(() => undefined);
    }
    this.redis.disconnect();
    this.isUp = false;
  }
}

/** Connects once to `url` and pings it: for `frelay check`. Resolves with the round trip, or an error sentence. */
export async function probeRedis(url: string, timeoutMs = 3000): Promise<{ ok: true; rttMs: number } | { ok: false; reason: string }> {
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, commandTimeout: timeoutMs, retryStrategy: () => null });
  // The connection's own error (ECONNREFUSED, ...) says more than the rejected connect().
  let cause: string | undefined;
  redis.on("error", (err) => (cause ??= describe(err)));
  try {
    await redis.connect();
    const t0 = process.hrtime.bigint();
    await redis.ping();
    return { ok: true, rttMs: Number(process.hrtime.bigint() - t0) / 1e6 };
  } catch (err) {
    return { ok: false, reason: cause ?? describe(err) };
  } finally {
    redis.disconnect();
  }
}
