import * as crypto from "node:crypto";
import * as tls from "node:tls";
import type { RelayConfig } from "../config/load";
import type { RelayPolicy } from "../relay/pairing-core";
import { RouteTable } from "../relay/routes";
import type { TransportState } from "../transport/transport-state";
import { TrustedProxies } from "../transport/fronted-identity";

/** Everything built from one config: made whole before it is swapped in, never mutated. */
export interface RelayState {
  readonly config: RelayConfig;
  readonly policy: RelayPolicy;
  readonly transport: TransportState;
}

/** Per process: session tickets are never valid across restarts, nor usable by another relay. */
const TICKET_SECRET = crypto.randomBytes(32);
/** How long an issued session (ticket) may be resumed. */
const SESSION_TIMEOUT_S = 300;

/**
 * TLS session resumption (tickets, TLS 1.2 and 1.3). Without a session id context OpenSSL aborts
 * every resumption attempt of a client-certificate server with internal_error; without stable
 * ticket keys a reload would void every ticket. Both are derived from the relay CA, so a new CA
 * voids the sessions that were verified against the old one; revocation, expiry and routes are
 * checked on a resumed session as on a full one (peer-identity.ts and the relay).
 */
function resumptionOptions(caPem: string): tls.SecureContextOptions {
  const derive = (label: string) => crypto.createHmac("sha256", TICKET_SECRET).update(label).update(caPem).digest();
  return {
    // At most 32 bytes (OpenSSL's SSL_MAX_SID_CTX_LENGTH).
    sessionIdContext: derive("session id context").toString("hex").slice(0, 32),
    ticketKeys: Buffer.concat([derive("ticket keys"), derive("ticket keys 2")]).subarray(0, 48),
    sessionTimeout: SESSION_TIMEOUT_S,
  };
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
    ...resumptionOptions(config.tls.caPem),
  });
  return Object.freeze({
    config,
    policy: Object.freeze({
      routes: new RouteTable(config.routes),
      pairMs: config.timeouts.pairMs,
      idleMs: config.timeouts.idleMs,
      flushGraceMs: config.timeouts.flushGraceMs,
      maxWaitingPerIdentity: config.limits.maxWaitingPerIdentity,
      isRevoked: (serial: string) => revoked.has(serial),
    }),
    transport: Object.freeze({
      secureContext,
      handshakeMs: config.timeouts.handshakeMs,
      h2: Object.freeze({ firstStreamMs: config.timeouts.handshakeMs, idleMs: config.timeouts.h2IdleMs, lifetimeMs: config.timeouts.h2LifetimeMs, bufferBytes: config.limits.h2BufferBytes, maxStreams: config.limits.h2MaxStreams }),
      maxConnections: config.limits.maxConnections,
      maxHandshakesPerAddress: config.limits.maxHandshakesPerAddress,
      proxyProtocol: config.proxyProtocol,
      proxyProtocolFrom: new TrustedProxies(config.proxyProtocolFrom),
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
