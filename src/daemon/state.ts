import * as tls from "node:tls";
import type { RelayConfig } from "../config/load";
import { crlSerials } from "../pki/certs";
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
  const revoked = config.tls.crlPem ? crlSerials(config.tls.crlPem) : new Set<string>();
  const secureContext = tls.createSecureContext({
    ca: config.tls.caPem,
    cert: config.tls.certPem,
    key: config.tls.keyPem,
    ...(config.tls.crlPem ? { crl: config.tls.crlPem } : {}),
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
