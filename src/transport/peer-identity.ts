import type { X509Certificate } from "node:crypto";
import type * as tls from "node:tls";
import { isIdentity, normalizeSerial } from "../pki/identity";
import { hasNodeMarker } from "../pki/node-identity";

export { normalizeSerial };

export type PeerResult = { ok: true; identity: string; serial: string } | { ok: false; reason: string };

interface VerifyHandle {
  verifyError?: () => Error | null;
}

/**
 * The identity of a party, taken only from a certificate OpenSSL verified against the relay CA
 * (chain, dates) and whose serial is not on the relay's CRL. A stand-alone server TLSSocket does
 * not act on the verification result (Node 20: only tls.Server does, in exactly this way), so we
 * read it ourselves and fail closed if it cannot be read.
 */
export function verifiedPeer(socket: tls.TLSSocket, isRevoked: (serial: string) => boolean): PeerResult {
  const error = verifyError(socket);
  if (error === undefined) return { ok: false, reason: "cannot read certificate verification result" };
  const c = socket.getPeerCertificate();
  if (!c || !c.raw) return { ok: false, reason: "no client certificate (present one signed by the relay CA)" };
  if (error) return { ok: false, reason: `client certificate rejected: ${error.message}` };
  const { peer, validTo } = namedBy(c);
  // The relay's own CRL check (OpenSSL is not given the CRL; see daemon/state.ts).
  if (peer.ok && isRevoked(peer.serial)) return { ok: false, reason: "client certificate rejected: certificate revoked" };
  // A resumed session carries the verdict of its first handshake: the dates are checked again.
  if (peer.ok && socket.isSessionReused() && validTo < Date.now()) return { ok: false, reason: "client certificate rejected: certificate has expired" };
  return peer;
}

/** What a certificate names, and until when it is valid; only ever derived from its bytes. */
interface Named {
  readonly peer: PeerResult;
  readonly validTo: number;
}

/**
 * What certificates name, by the SHA-256 of their DER. A certificate's bytes never change, so
 * neither does what identityOf() reads from them; parties reconnect with the same certificate,
 * so the subject is parsed once, not per handshake. Nothing here is a verdict: OpenSSL verifies
 * the chain and dates, and the CRL (and a resumed session's expiry) is checked, on every
 * handshake, so a reload that revokes needs nothing cleared here. Bounded: the oldest entry
 * makes room.
 */
const named = new Map<string, Named>();
const MAX_NAMED = 4096;

function namedBy(c: tls.PeerCertificate): Named {
  const key = c.fingerprint256;
  const known = named.get(key);
  if (known) return known;
  const facts = factsOf(c);
  const entry: Named = Object.freeze({ peer: Object.freeze(identityOf(facts)), validTo: Date.parse(facts.validTo) });
  if (named.size >= MAX_NAMED) named.delete(named.keys().next().value as string);
  named.set(key, entry);
  return entry;
}

const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** What identity checks read from a certificate: an X509Certificate has it, so does a peer's. */
export type CertificateFacts = Pick<X509Certificate, "subject" | "keyUsage" | "serialNumber" | "validTo">;

/**
 * The peer certificate of a TLS connection, read without taking it from the connection.
 *
 * Not getPeerX509Certificate(): on a server socket (Node 20 with OpenSSL 3, where the peer chain
 * holds the client's own certificate) it pops that certificate off the session's chain and never
 * releases it, so every handshake left its client certificate behind, parsed (about 2 KB), for
 * the life of the process: heaptrack showed it as the relay's one native allocation growing
 * with handshakes, open sessions or not. getPeerCertificate() only reads; it builds a bigger
 * object (tens of microseconds, against a handshake's milliseconds), of which this keeps four
 * fields in the X509Certificate's own formats.
 */
export function peerCertificate(socket: tls.TLSSocket): CertificateFacts | undefined {
  const c = socket.getPeerCertificate();
  return c && c.raw ? factsOf(c) : undefined;
}

function factsOf(c: tls.PeerCertificate): CertificateFacts {
  // The subject as X509Certificate prints it: one "KEY=value" line per attribute.
  const lines: string[] = [];
  for (const [key, value] of Object.entries((c.subject ?? {}) as unknown as Record<string, string | string[]>)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${key}=${v}`);
  }
  return { subject: lines.join("\n"), keyUsage: c.ext_key_usage as string[], serialNumber: c.serialNumber, validTo: c.valid_to };
}

/**
 * The identity a verified certificate names: exactly one CN, an identity, in a certificate
 * that may authenticate clients (no extendedKeyUsage, or one with clientAuth).
 */
export function identityOf(cert: CertificateFacts): PeerResult {
  if (hasNodeMarker(cert)) return { ok: false, reason: "client certificate is a node certificate (for the scale-out link only), never a party" };
  const cns = cert.subject.split("\n").filter((line) => line.startsWith("CN="));
  const cn = cns.length === 1 ? (cns[0] as string).slice(3) : undefined;
  if (!cn || !isIdentity(cn)) {
    return { ok: false, reason: `client certificate CN ${JSON.stringify(cns.length > 1 ? cns.map((c) => c.slice(3)) : cn)} is not an identity like "0.user1" or "0"` };
  }
  const eku = cert.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH)) return { ok: false, reason: "client certificate rejected: unsuitable certificate purpose (not for client authentication)" };
  return { ok: true, identity: cn, serial: normalizeSerial(cert.serialNumber) };
}

/**
 * OpenSSL's verdict on the peer's chain for a stand-alone server TLSSocket: null when it
 * verified, the error when not, undefined when the verdict cannot be read (treat as failure).
 */
export function verifyError(socket: tls.TLSSocket): Error | null | undefined {
  const handle = (socket as unknown as { ssl?: VerifyHandle }).ssl;
  if (!handle || typeof handle.verifyError !== "function") return undefined;
  return handle.verifyError();
}
