import type * as tls from "node:tls";
import type { TrustedProxies } from "./fronted-identity";
import type { H2Bounds } from "./h2-memory-bounds";

/** What the listeners need from the current config; swapped whole on reload. */
export interface TransportState {
  readonly secureContext: tls.SecureContext;
  readonly handshakeMs: number;
  /** How long an HTTP/2 connection may last and sit without a stream. */
  readonly h2: H2Bounds;
  readonly maxConnections: number;
  readonly maxHandshakesPerAddress: number;
  /** A PROXY protocol v1/v2 header comes before TLS (TLS-passthrough fronts). */
  readonly proxyProtocol: boolean;
  /** The fronts whose PROXY header is believed; other peers are closed at accept. */
  readonly proxyProtocolFrom: TrustedProxies;
  /** For certificates a front forwards: verified by the relay against its own CA and CRL. */
  readonly caPem: string;
  readonly isRevoked: (serial: string) => boolean;
  readonly fronting?: { readonly path: string; readonly clientCertHeader: string; readonly clientAddressHeader: string; readonly trusted: TrustedProxies };
}
