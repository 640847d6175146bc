import * as net from "node:net";
import * as tls from "node:tls";
import type { PartyRequest, RawStream } from "../relay/party";

/**
 * Workers of one `frelay start --workers N` (siblings: one primary, one machine) meet without
 * the node link. When a worker claims a waiter owned by a sibling, the claim goes over Node's
 * cluster IPC (worker → primary → worker), and once the arriving party's Mode 1 and
 * close_notify are written, its bare TCP connection itself follows (the descriptor passes
 * through the IPC channel), with any bytes already read behind its request. The owner then
 * splices both parties in one process, exactly as a local pair: no second TLS, no extra copy.
 *
 *   claimant → owner   {kind:"claim", claim, session, from, request}
 *   owner → claimant   {kind:"reply", session, ok, request?, waited_ms?, reason?, refusal?}
 *   claimant → owner   {kind:"socket", session, leftover}  + the connection
 *              or      {kind:"abort", session}               (its party left before Mode 1 went out)
 *   primary → sender   {kind:"undeliverable", session}       (no such sibling running)
 *
 * Every message names its target node (`to`) and, for a claim, the target's incarnation: a
 * restarted sibling has a new one, and answers a claim meant for its predecessor with "gone".
 */
export interface SiblingMessage {
  readonly frelay: "sibling";
  readonly kind: "claim" | "reply" | "socket" | "abort" | "undeliverable";
  readonly to: string;
  readonly from: string;
  readonly session: string;
  readonly incarnation?: string;
  readonly claim?: string;
  readonly request?: PartyRequest;
  readonly ok?: boolean;
  readonly reason?: string;
  /**
   * On a reply that turns the claim down for good: the refusal (HTTP status) the claimant's
   * party gets, with `reason`. The owner's waiter was not the problem and stays waiting.
   */
  readonly refusal?: number;
  readonly waited_ms?: number;
  /** Bytes the claimant had read from the party's connection behind its request (base64). */
  readonly leftover?: string;
}

/** Env var the primary sets for its workers: the token their incarnations start with. */
export const SIBLINGS_ENV = "FRELAY_SIBLINGS";

/** How long a claimant waits for the owner's answer to a claim. */
const CLAIM_TIMEOUT_MS = 5000;

export class SiblingError extends Error {
  constructor(
    message: string,
    readonly gone = false,
    /** The owner refused the party itself (not the waiter gone): answer it with this. */
    readonly refusal?: { readonly code: number; readonly reason: string },
  ) {
    super(message);
  }
}

export interface SiblingOwner {
  /** A sibling claimed waiter `msg.claim`; answer with `reply`. */
  onSiblingClaim(msg: SiblingMessage): void;
  /** The claimant's party arrived (its connection, ready to splice), or will not (`stream` undefined). */
  onSiblingParty(session: string, raw: RawStream | undefined): void;
}

/**
 * A worker's end of the sibling IPC. `token` is this machine's (the primary's) token; a waiter
 * whose owner's incarnation starts with it lives in a sibling.
 */
export class SiblingLink {
  private readonly pending = new Map<string, { resolve: (m: SiblingMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly onMessage = (m: SiblingMessage, handle: unknown) => this.receive(m, handle);

  constructor(
    readonly node: string,
    readonly token: string,
    private readonly owner: SiblingOwner,
  ) {
    process.on("message", this.onMessage);
  }

  /** A token made by the primary for one start: `<token>.<random>` incarnations are its workers. */
  isSibling(incarnation: string): boolean {
    return incarnation.startsWith(`${this.token}.`);
  }

  close(): void {
    process.off("message", this.onMessage);
    for (const [session, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new SiblingError("worker stopping"));
      this.pending.delete(session);
    }
  }

  private send(m: Omit<SiblingMessage, "frelay" | "from">, handle?: net.Socket, cb?: (err: Error | null) => void): void {
    const msg: SiblingMessage = { frelay: "sibling", from: this.node, ...m };
    if (!process.send || !process.connected) return cb?.(new Error("no IPC channel to the primary"));
    process.send(msg, handle, undefined, cb ?? (() => undefined));
  }

  /** Claims waiter `claim` of sibling `to`; resolves with its request, rejects (gone or not) otherwise. */
  claim(to: string, incarnation: string, claim: string, session: string, request: PartyRequest): Promise<{ request: PartyRequest; waitedMs: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(session);
        // Should the owner answer after all, it must not hold its waiter for a party that never comes.
        this.send({ kind: "abort", to, session });
        reject(new SiblingError(`worker ${to} did not answer a claim within ${CLAIM_TIMEOUT_MS / 1000}s`));
      }, CLAIM_TIMEOUT_MS);
      this.pending.set(session, {
        timer,
        reject,
        resolve: (m) => {
          if (m.kind === "undeliverable") return reject(new SiblingError(`worker ${to} is not running`, true));
          if (!m.ok && m.refusal) return reject(new SiblingError(`worker ${to} refused the party: ${m.reason ?? "no reason"}`, false, { code: m.refusal, reason: m.reason ?? "refused" }));
          if (!m.ok || !m.request) return reject(new SiblingError(`worker ${to} refused the claim: ${m.reason ?? "no reason"}`, true));
          resolve({ request: m.request, waitedMs: m.waited_ms ?? 0 });
        },
      });
      this.send({ kind: "claim", to, incarnation, claim, session, request });
    });
  }

  reply(msg: SiblingMessage, answer: { ok: true; request: PartyRequest; waitedMs: number } | { ok: false; reason: string; refusal?: number }): void {
    const to = msg.from;
    const session = msg.session;
    if (answer.ok) return this.send({ kind: "reply", to, session, ok: true, request: answer.request, waited_ms: answer.waitedMs });
    this.send({ kind: "reply", to, session, ok: false, reason: answer.reason, ...(answer.refusal !== undefined ? { refusal: answer.refusal } : {}) });
  }

  /**
   * Sends the arriving party's bare connection to its owner. Nothing of it stays here: the
   * bytes Node had read go along as leftover, reading stops first so that none is read here
   * afterwards, and this process's socket is closed once the descriptor is on its way.
   */
  handOver(to: string, session: string, own: RawStream, onError: (err: Error) => void): void {
    const sock = own.stream;
    if (!(sock instanceof net.Socket) || sock instanceof tls.TLSSocket || sock.destroyed || sock.writableLength > 0) {
      sock.destroy();
      this.send({ kind: "abort", to, session });
      return onError(new SiblingError("the party's connection cannot be handed over"));
    }
    const leftover = takeForHandover(sock, own.leftover);
    this.send({ kind: "socket", to, session, leftover: leftover.toString("base64") }, sock, (err) => {
      // Sent (the descriptor is the owner's now) or not: this process is done with it.
      sock.destroy();
      if (err) onError(err);
    });
  }

  abort(to: string, session: string): void {
    this.send({ kind: "abort", to, session });
  }

  private receive(m: SiblingMessage, handle: unknown): void {
    if (m?.frelay !== "sibling") return;
    if (m.kind === "reply" || m.kind === "undeliverable") {
      const p = this.pending.get(m.session);
      if (p) {
        clearTimeout(p.timer);
        this.pending.delete(m.session);
        p.resolve(m);
      }
      return;
    }
    if (m.kind === "claim") return this.owner.onSiblingClaim(m);
    if (m.kind === "abort") return this.owner.onSiblingParty(m.session, undefined);
    if (m.kind === "socket") {
      if (!(handle instanceof net.Socket)) return this.owner.onSiblingParty(m.session, undefined);
      adoptHandedOver(handle);
      this.owner.onSiblingParty(m.session, { stream: handle, leftover: Buffer.from(m.leftover ?? "", "base64") });
    }
  }
}

interface SocketInternals {
  _handle?: { reading?: boolean; readStop?: () => number } | null;
  server?: unknown;
}

/**
 * Makes `sock` ready to leave this process: returns `leftover` plus every byte Node has read
 * from it and nobody consumed, and stops libuv reading from it (Node has no public call for
 * that: pause() only stops delivery, and bytes read after it would be dropped with the socket).
 * Its server link is cut as well: Node would otherwise have the listening server poll the
 * primary for the socket's end at close, which never comes for a socket passed on.
 */
export function takeForHandover(sock: net.Socket, leftover: Buffer): Buffer {
  const chunks: Buffer[] = [leftover];
  for (let c: unknown; (c = sock.read()) !== null; ) chunks.push(c as Buffer);
  stopReading(sock);
  (sock as unknown as SocketInternals).server = null;
  return Buffer.concat(chunks);
}

/** Stops libuv reading from a socket this process only passes on (the primary, in between). */
export function stopReading(sock: net.Socket): void {
  const h = (sock as unknown as SocketInternals)._handle;
  if (h?.readStop) {
    h.reading = false;
    h.readStop();
  }
}

/** A party connection that arrived over IPC, set up as the listener sets up its own. */
function adoptHandedOver(sock: net.Socket): void {
  // Node builds it with allowHalfOpen false: a FIN from the party would end our side too.
  sock.allowHalfOpen = true;
  sock.on("error", () => undefined); // reported through 'close'
  sock.setNoDelay(true);
}
