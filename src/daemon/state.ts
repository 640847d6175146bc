import * as tls from "node:tls";
import type { RelayConfig } from "../config/load";
import type { RelayPolicy } from "../relay/relay";
import { RouteTable } from "../relay/routes";
import type { TransportState } from "../transport/direct-listener";
import { TrustedProxies } from "../transport/fronted-identity";

/** Everything built from one config: made whole before it is swapped in, never mutated. */
export interface RelayState {
  readonly config: RelayConfig;
  readonly policy: RelayPolicy;
  readonly transport: TransportState;
}

export function buildState(config: RelayConfig): RelayState {
  // The CRL is not handed to OpenSSL: it would refuse every client once the CRL's nextUpdate
  // has passed (or while its thisUpdate is ahead of this clock). The relay checks the serials
  // of the CRL it loaded itself, at every handshake and request, whatever the CRL's dates.
  const revoked = new Set(config.tls.crl?.revoked ?? []);
  const secureContext = tls.createSecureContext({
    ca: config.tls.caPem,
    cert: config.tls.certPem,
    key: config.tls.keyPem,
    minVersion: "TLSv1.2",
  });
  return Object.freeze({
    config,
    policy: Object.freeze({
      routes: new RouteTable(config.routes),
      pairMs: config.timeouts.pairMs,
      idleMs: config.timeouts.idleMs,
      maxWaitingPerIdentity: config.limits.maxWaitingPerIdentity,
      isRevoked: (serial: string) => revoked.has(serial),
    }),
    transport: Object.freeze({
      secureContext,
      handshakeMs: config.timeouts.handshakeMs,
      h2: Object.freeze({ firstStreamMs: config.timeouts.handshakeMs, idleMs: config.timeouts.h2IdleMs, lifetimeMs: config.timeouts.h2LifetimeMs }),
      maxConnections: config.limits.maxConnections,
      maxHandshakesPerAddress: config.limits.maxHandshakesPerAddress,
      proxyProtocol: config.proxyProtocol,
      caPem: config.tls.caPem,
      isRevoked: (serial: string) => revoked.has(serial),
      ...(config.fronting
        ? {
            fronting: Object.freeze({
              path: config.fronting.path,
              clientCertHeader: config.fronting.clientCertHeader,
              clientAddressHeader: config.fronting.clientAddressHeader,
              trusted: new TrustedProxies(config.fronting.trustedProxies),
            }),
          }
        : {}),
    }),
  });
}
