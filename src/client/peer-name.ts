import type * as tls from "node:tls";

/**
 * Whether the peer's end-to-end certificate names `name` (the DestParty asked for): a DNS SAN
 * equal to it, ignoring case, or its CN when it has no DNS SAN. Party names are exact, never
 * wildcards. Node's tls.checkServerIdentity is not used here: since Node 22 it reads a one-label
 * numeric name such as Flock's party "1" as an IPv4 address (inet_aton's "1" = 0.0.0.1) and
 * refuses every certificate for it.
 */
export function peerNameMismatch(name: string, cert: tls.PeerCertificate): Error | undefined {
  const want = name.toLowerCase();
  const dns = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((e) => e.startsWith("DNS:"))
    .map((e) => e.slice(4).toLowerCase());
  const cn = cert.subject?.CN;
  const names = dns.length > 0 ? dns : typeof cn === "string" ? [cn.toLowerCase()] : [];
  if (names.includes(want)) return undefined;
  return new Error(`the peer's certificate names ${names.join(", ") || "nothing"}, not ${name}`);
}
