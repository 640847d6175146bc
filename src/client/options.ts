import type * as tls from "node:tls";
import type { PartySettings } from "./settings";

/**
 * What a party asks of `connect()` and what it gets back: shared by the stream dialer
 * (connect.ts) and the HTTP/2 dialer (h2-connect.ts), so neither imports the other for types.
 */
export interface ConnectOptions extends PartySettings {
  /** Bound on the whole exchange: TCP, both TLS handshakes, and the wait for the peer. */
  timeoutMs?: number;
  /** "stream" (default, the Flock protocol) or "h2" (one HTTP/2 stream per session; docs/protocol.md, "HTTP/2"). */
  transport?: "stream" | "h2";
  /** h2 only: the path prefix the relay or front serves (default "/frelay"). */
  path?: string;
  /**
   * Send the request only once the relay has finished its side of the handshake (its TLS 1.3
   * session ticket arrived), so the request → reply time is the pairing step alone. The
   * benchmark's latency probe; parties normally send at once.
   */
  requestAfterHandshake?: boolean;
  /** Stream transport: the local address to connect from (multi-homed hosts). */
  localAddress?: string;
  /** The name the relay's certificate must carry (RELAY_NAME); default flockrelay or frelay. */
  relayName?: string;
}

export interface RelayedConnection {
  /** The end-to-end TLS connection with the peer. */
  socket: tls.TLSSocket;
  /** 1: this side is the end-to-end TLS server; 2: the client. */
  mode: 1 | 2;
}

/** How long a party waits for its peer unless told otherwise. */
export const DEFAULT_TIMEOUT_MS = 120_000;
