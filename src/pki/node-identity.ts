/** What makes a certificate a node certificate (the scale-out link) and never a party identity: its OU, and a CN no identity can have. */
import type { X509Certificate } from "node:crypto";

/** The subject is all these checks read (an X509Certificate, or a peer certificate's fields). */
type Subject = Pick<X509Certificate, "subject">;

/**
 * Node certificates (the scale-out link between relay processes) are signed by the relay CA,
 * like party certificates, so they must be told apart by something a party certificate can
 * never carry: the organizational unit below, and a CN with a ':' (not a DNS label, so never
 * an identity). Party accept refuses either; the link accepts only certificates with both.
 */
export const NODE_OU = "frelay-node";
const NODE_CN_PREFIX = "frelay-node:";

export function nodeCommonName(node: string): string {
  return `${NODE_CN_PREFIX}${node}`;
}

function subjectFields(cert: Subject): string[] {
  return cert.subject.split("\n");
}

/** True if the certificate carries either node marker: never a party. */
export function hasNodeMarker(cert: Subject): boolean {
  return subjectFields(cert).some((f) => f === `OU=${NODE_OU}` || f.startsWith(`CN=${NODE_CN_PREFIX}`));
}

/** The node name of a certificate carrying both markers, else undefined. */
export function nodeNameOf(cert: Subject): string | undefined {
  const fields = subjectFields(cert);
  const cns = fields.filter((f) => f.startsWith("CN="));
  if (!fields.includes(`OU=${NODE_OU}`) || cns.length !== 1) return undefined;
  const cn = (cns[0] as string).slice(3);
  return cn.startsWith(NODE_CN_PREFIX) ? cn.slice(NODE_CN_PREFIX.length) : undefined;
}

export function isNodeCertificate(cert: X509Certificate): boolean {
  return nodeNameOf(cert) !== undefined;
}
