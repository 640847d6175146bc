import type * as tls from "node:tls";
import { isIdentity } from "../pki/identity";

export type PeerResult = { ok: true; identity: string; serial: string } | { ok: false; reason: string };

interface VerifyHandle {
  verifyError?: () => Error | null;
}

/**
 * The identity of a party, taken only from a certificate OpenSSL verified against the relay CA
 * (chain, dates, CRL). A stand-alone server TLSSocket does not act on the verification result
 * (Node 20: only tls.Server does, in exactly this way), so we read it ourselves and fail closed
 * if it cannot be read.
 */
export function verifiedPeer(socket: tls.TLSSocket): PeerResult {
  const error = verifyError(socket);
  if (error === undefined) return { ok: false, reason: "cannot read certificate verification result" };
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return { ok: false, reason: "no client certificate (present one signed by the relay CA)" };
  if (error) return { ok: false, reason: `client certificate rejected: ${error.message}` };
  const cn = cert.subject?.CN;
  if (typeof cn !== "string" || !isIdentity(cn)) {
    return { ok: false, reason: `client certificate CN ${JSON.stringify(cn)} is not an identity like "0.user1"` };
  }
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

/** Serials compare as upper-case hex without leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^0+(?=.)/, "");
}
