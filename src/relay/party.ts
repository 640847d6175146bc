import type { RawStream } from "../datapath/session-splice";

export type { RawStream };

/** What a transport hands the relay: an authenticated identity and what it asks for. */
export interface PartyRequest {
  readonly identity: string;
  readonly dest: string;
  readonly tag: string;
  /** The real client address (after PROXY protocol or a trusted front), for logs and limits. */
  readonly remote: string;
  readonly transport: "stream" | "h2";
  /** Serial of the relay certificate the identity came from, so revocation can find it. */
  readonly certSerial: string;
}

/**
 * A party that has made its request and awaits the relay's decision. The relay knows nothing
 * of TLS or HTTP/2: refusing, accepting and noticing departure are the transport's business.
 */
export interface PendingParty {
  readonly request: PartyRequest;
  /**
   * Sends a refusal (Mode 0 or an HTTP status) and closes. Idempotent. May return a promise
   * that settles once the refusal has left the relay or the party is gone (bounded), for a
   * stop that must not tear the connection down under it.
   */
  refuse(code: number, reason: string): void | Promise<void>;
  /**
   * Sends Mode 1 or 2; resolves once that reply is written ahead of any raw byte. With
   * `notBefore`, the reply is written only once that settles (and never if it rejects).
   */
  accept(mode: 1 | 2, notBefore?: Promise<unknown>): Promise<RawStream>;
  /** `cb` runs once if the party goes away while still pending. */
  onGone(cb: () => void): void;
}

export const RefusalCode = {
  badRequest: 400,
  forbidden: 403,
  timeout: 408,
  tooMany: 429,
  unavailable: 503,
} as const;
