import type { PartyRequest, RawStream } from "./party";

/**
 * A rendezvous shared with other relay processes (the cluster layer implements it on Redis).
 * The relay keeps its own waiting table either way; this only decides who meets whom across
 * processes. The relay never learns how: no store, no sockets, no certificates.
 */
export interface SharedRendezvous {
  /**
   * Looks for the oldest waiter `self` may pair with, anywhere, and if there is none (and
   * `mayWait`) registers `self` as waiting: in one atomic step, so two parties arriving for
   * each other on two nodes at once cannot both end up waiting.
   */
  meet(self: WaitingRef, mayWait: boolean): Promise<Meeting>;
  /** `self` left this relay's waiting table (gone, timed out, refused, paired here). */
  withdraw(id: string): void;
  /** A claimed waiter of this relay is waiting again (its peer vanished before the reply): back at the head. */
  restore(self: WaitingRef): void;
}

export interface WaitingRef {
  /** Unique within this relay process. */
  readonly id: string;
  readonly request: PartyRequest;
}

export type Meeting =
  /** No peer anywhere; `self` is registered as waiting if it may wait. */
  | { readonly kind: "waiting" }
  /** The shared store cannot be reached: pair with this relay's own parties only. */
  | { readonly kind: "unshared" }
  /** Claimed a waiter of this very relay, by its id. */
  | { readonly kind: "local"; readonly id: string }
  /** Claimed, and reserved at its owner, a waiter on another node. */
  | { readonly kind: "remote"; readonly peer: RemotePeer }
  /** The waiter's process cannot take this party (e.g. it is at its connection limit): refuse it. */
  | { readonly kind: "refused"; readonly code: number; readonly reason: string };

/** The arriving side's view of a waiter reserved on another node. */
export interface RemotePeer {
  /** The waiter's request as its node accepted it. */
  readonly request: PartyRequest;
  /** One id for the session, logged on both nodes. */
  readonly sessionId: string;
  /**
   * The arriving party's Mode 1 and close_notify are written (`own` is its raw stream now): the
   * owner may now send Mode 2. Returns the link, which from here on carries the waiter's raw
   * bytes; or undefined when the owner took `own` itself (a sibling process on this machine),
   * and splices the pair there: this process then has no session for it.
   */
  go(own: RawStream): RawStream | undefined;
  /** The arriving party did not take its reply: the owner puts the waiter back. */
  abort(): void;
}

/** The owner's view of a node that claimed one of its waiters. */
export interface RemoteClaimant {
  /** The arriving party's request as its node accepted it. */
  readonly request: PartyRequest;
  readonly sessionId: string;
  /** Resolves with the link once the arriving party's Mode 1 is written; rejects if it never will be. */
  readonly ready: Promise<RawStream>;
}
