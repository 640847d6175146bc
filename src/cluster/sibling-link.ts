import * as net from "node:net";
import * as tls from "node:tls";
import type { PartyRequest, RawStream } from "../relay/party";
import { Arrivals, passOn, readBuffered, type Arrived } from "./socket-passing";

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
 *   claimant → owner   {kind:"released", session, leftover}  (let go of it; bytes read meanwhile)
 *   primary → owner    {kind:"passed", session, leftover}    (the same, for the primary's turn)
 *   primary → sender   {kind:"undeliverable", session}       (no such sibling running)
 *
 * How a connection moves without a byte lost or reordered: socket-passing.ts.
 *
 * Every message names its target node (`to`) and, for a claim, the target's incarnation: a
 * restarted sibling has a new one, and answers a claim meant for its predecessor with "gone".
 */
export interface SiblingMessage {
  readonly frelay: "sibling";
  readonly kind: "claim" | "reply" | "socket" | "abort" | "released" | "passed" | "undeliverable";
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
  /** Bytes a holder had read from the party's connection behind its request (base64). */
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
  /** The claimant's party arrived (its connection, ready to splice), or will not (`raw` undefined, and why). */
  onSiblingParty(session: string, raw: RawStream | undefined, why?: string): void;
}

/**
 * A worker's end of the sibling IPC. `token` is this machine's (the primary's) token; a waiter
 * whose owner's incarnation starts with it lives in a sibling.
 */
export class SiblingLink {
  private readonly pending = new Map<string, { resolve: (m: SiblingMessage) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly onMessage = (m: SiblingMessage, handle: unknown) => this.receive(m, handle);
  /** Party connections that arrived and wait for their earlier holders to let go. */
  private readonly arrivals = new Arrivals((session, a) => this.arrived(session, a));

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
    this.arrivals.close();
    for (const [session, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new SiblingError("worker stopping"));
      this.pending.delete(session);
    }
  }

  private send(m: Omit<SiblingMessage, "frelay" | "from">, handle?: net.Socket, cb?: (err: Error | null) => void): void {
    const msg: SiblingMessage = { frelay: "sibling", from: this.node, ...m };
    if (!process.send || !process.connected) return cb?.(new Error("no IPC channel to the primary"));
    // keepOpen: this process lets go of a connection itself, once it is sent (see passOn).
    process.send(msg, handle, handle ? { keepOpen: true } : undefined, cb ?? (() => undefined));
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
   * bytes Node had read go along as leftover, this process's socket is destroyed once the
   * descriptor is on its way, and what it read in between follows as "released".
   */
  handOver(to: string, session: string, own: RawStream, onError: (err: Error) => void): void {
    const sock = own.stream;
    if (!(sock instanceof net.Socket) || sock instanceof tls.TLSSocket || sock.destroyed || sock.writableLength > 0) {
      sock.destroy();
      this.send({ kind: "abort", to, session });
      return onError(new SiblingError("the party's connection cannot be handed over"));
    }
    sock.pause();
    const leftover = Buffer.concat([own.leftover, readBuffered(sock)]).toString("base64");
    passOn(
      sock,
      (s, cb) => this.send({ kind: "socket", to, session, leftover }, s, cb),
      (err, late) => {
        if (!err) return this.send({ kind: "released", to, session, leftover: late.toString("base64") });
        this.send({ kind: "abort", to, session });
        onError(err);
      },
    );
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
      if (!(handle instanceof net.Socket)) return this.owner.onSiblingParty(m.session, undefined, "its connection did not come with the message");
      return this.arrivals.arrived(m.session, handle, Buffer.from(m.leftover ?? "", "base64"));
    }
    if (m.kind === "released" || m.kind === "passed") this.arrivals.released(m.session, m.kind, Buffer.from(m.leftover ?? "", "base64"));
  }

  /** A party connection is here whole (or was cut on the way): to the owner. */
  private arrived(session: string, a: Arrived): void {
    if (!a.ok) return this.owner.onSiblingParty(session, undefined, a.reason);
    // Replies and close_notify of the splice go out as soon as written, as on the listener.
    a.sock.setNoDelay(true);
    this.owner.onSiblingParty(session, { stream: a.sock, leftover: a.leftover });
  }
}
