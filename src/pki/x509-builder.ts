import * as crypto from "node:crypto";
import * as net from "node:net";
import { PkiError } from "../errors";
import { bits, bool, children, explicit, nul, octets, oid, oidText, read, seq, set, time, tlv, uint, utf8 } from "./der";

/**
 * Certificates made with Node's crypto and a small DER writer: every certificate that has an
 * ECDSA P-256 key, or is signed by one (node-forge handles RSA only). RSA-only chains keep going
 * through node-forge (certs.ts), as they always have.
 */

export type CertUsage = "ca" | "server" | "client" | "peer";

export interface BuildRequest {
  commonName: string;
  /** OU, before the CN as node-forge writes it (node certificates carry one). */
  organizationalUnit?: string;
  usage: CertUsage;
  notBefore: Date;
  notAfter: Date;
  serialHex: string;
  altNames?: readonly string[];
  /** The new certificate's key. */
  publicKey: crypto.KeyObject;
  /** Signer: the issuer's certificate and key; absent for a self-signed CA (signed by `selfKey`). */
  issuer?: { certPem: string; keyPem: string };
  selfKey?: crypto.KeyObject;
}

const OID = {
  cn: "2.5.4.3",
  ou: "2.5.4.11",
  sha256Rsa: "1.2.840.113549.1.1.11",
  ecdsaSha256: "1.2.840.10045.4.3.2",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
};

/** The parts of an issuer certificate a child (or a CRL) needs: its subject as encoded, and its key id. */
export function issuerParts(certPem: string): { subject: Buffer; keyId?: Buffer } {
  const der = new crypto.X509Certificate(certPem).raw;
  const tbs = children(read(der).content)[0];
  if (!tbs) throw new PkiError("issuer certificate: no TBSCertificate");
  const fields = children(tbs.content);
  const start = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  const subject = fields[start + 4];
  if (!subject) throw new PkiError("issuer certificate: no subject");
  const extensions = fields.find((f) => f.tag === 0xa3);
  let keyId: Buffer | undefined;
  for (const ext of extensions ? children(children(extensions.content)[0]?.content ?? Buffer.alloc(0)) : []) {
    const parts = children(ext.content);
    if (parts[0] && oidText(parts[0].content) === OID.subjectKeyId) {
      const value = parts[parts.length - 1];
      if (value) keyId = read(value.content).content;
    }
  }
  return { subject: subject.whole, ...(keyId ? { keyId } : {}) };
}

function name(cn: string, ou?: string): Buffer {
  return seq(...(ou ? [set(seq(oid(OID.ou), utf8(ou)))] : []), set(seq(oid(OID.cn), utf8(cn))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

/** KeyUsage bits, numbered as in RFC 5280 (0 = digitalSignature). */
function keyUsage(numbers: number[]): Buffer {
  let mask = 0;
  for (const n of numbers) mask |= 0x80 >> n;
  // BIT STRING with its unused-bit count: trailing zero bits of the one byte.
  let unused = 0;
  while (unused < 7 && !(mask & (1 << unused))) unused++;
  return tlv(0x03, Buffer.from([unused, mask]));
}

function altName(n: string): Buffer {
  if (net.isIPv4(n)) return tlv(0x87, Buffer.from(n.split(".").map(Number)));
  if (net.isIPv6(n)) {
    const sock = new net.SocketAddress({ address: n, family: "ipv6" });
    const words = expandIpv6(sock.address);
    return tlv(0x87, Buffer.from(words.flatMap((w) => [w >> 8, w & 0xff])));
  }
  return tlv(0x82, Buffer.from(n, "ascii"));
}

function expandIpv6(text: string): number[] {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const h = head ? head.split(":").map((x) => parseInt(x, 16)) : [];
  const t = tail ? tail.split(":").map((x) => parseInt(x, 16)) : [];
  return tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function extensionsFor(req: BuildRequest, spkiKey: Buffer, authorityKeyId: Buffer | undefined): Buffer {
  const isEc = req.publicKey.asymmetricKeyType === "ec";
  const exts: Buffer[] = [];
  if (req.usage === "ca") {
    exts.push(extension(OID.basicConstraints, true, seq(bool(true))));
    exts.push(extension(OID.keyUsage, true, keyUsage([5, 6]))); // keyCertSign, cRLSign
  } else {
    exts.push(extension(OID.basicConstraints, false, seq()));
    // An EC key signs only; keyEncipherment is for RSA key transport.
    exts.push(extension(OID.keyUsage, true, keyUsage(isEc ? [0] : [0, 2])));
    const purposes = [
      ...(req.usage === "server" || req.usage === "peer" ? [OID.serverAuth] : []),
      ...(req.usage === "client" || req.usage === "peer" ? [OID.clientAuth] : []),
    ];
    exts.push(extension(OID.extKeyUsage, false, seq(...purposes.map(oid))));
  }
  if (req.altNames && req.altNames.length > 0) exts.push(extension(OID.subjectAltName, false, seq(...req.altNames.map(altName))));
  // Key identifiers as RFC 5280 4.2.1.2 (1): SHA-1 of the public key's bits.
  exts.push(extension(OID.subjectKeyId, false, octets(crypto.createHash("sha1").update(spkiKey).digest())));
  if (authorityKeyId) exts.push(extension(OID.authorityKeyId, false, seq(tlv(0x80, authorityKeyId))));
  return explicit(3, seq(...exts));
}

function signatureAlgorithm(key: crypto.KeyObject): Buffer {
  return key.asymmetricKeyType === "ec" ? seq(oid(OID.ecdsaSha256)) : seq(oid(OID.sha256Rsa), nul());
}

/** A signed X.509 v3 certificate, PEM. */
export function buildCertificate(req: BuildRequest): string {
  const signer = req.issuer ? crypto.createPrivateKey(req.issuer.keyPem) : req.selfKey;
  if (!signer) throw new PkiError("a certificate needs an issuer or its own key");
  const spki = req.publicKey.export({ type: "spki", format: "der" });
  const spkiKey = read(children(read(spki).content)[1]?.whole ?? Buffer.alloc(0)).content.subarray(1);
  const issuer = req.issuer ? issuerParts(req.issuer.certPem) : undefined;
  const subject = name(req.commonName, req.organizationalUnit);
  const alg = signatureAlgorithm(signer);
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(Buffer.from(req.serialHex, "hex")),
    alg,
    issuer ? issuer.subject : subject,
    seq(time(req.notBefore), time(req.notAfter)),
    subject,
    spki,
    extensionsFor(req, spkiKey, issuer?.keyId),
  );
  const signature = crypto.sign("sha256", tbs, signer);
  const der = seq(tbs, alg, bits(signature));
  const body = der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n");
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
}
