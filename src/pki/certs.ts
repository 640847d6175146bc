import * as crypto from "node:crypto";
import * as net from "node:net";
import forge from "node-forge";
import { FrelayError } from "../errors";

/**
 * The only module that speaks node-forge: key pairs, CA and leaf certificates, CRLs.
 * Keys are RSA, PKCS#8 PEM; signatures SHA-256.
 */
export type KeyBits = 2048 | 3072 | 4096;
export const KEY_BITS: readonly KeyBits[] = [2048, 3072, 4096];

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

type Usage = "ca" | "server" | "client" | "peer";

interface CertRequest {
  commonName: string;
  usage: Usage;
  days: number;
  bits: KeyBits;
  /** DNS names and IP addresses for the subjectAltName. */
  altNames?: readonly string[];
  /** Signer; absent for a self-signed CA. */
  issuer?: KeyAndCert;
  /** Explicit validity (tests of expired and not-yet-valid certificates); else now-1h … +days. */
  validity?: { notBefore: Date; notAfter: Date };
}

const HOUR_MS = 3600_000;

/** node-forge writes PEM with CRLF line ends; every PEM frelay writes uses LF. */
function lf(pem: string): string {
  return pem.replace(/\r\n/g, "\n");
}

function randomSerial(): string {
  // 16 random bytes with the top bit cleared: a positive INTEGER, unique in practice.
  const bytes = crypto.randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString("hex");
}

function altName(name: string): { type: number; value?: string; ip?: string } {
  return net.isIP(name) ? { type: 7, ip: name } : { type: 2, value: name };
}

function extensionsFor(req: CertRequest): object[] {
  const exts: object[] = [];
  if (req.usage === "ca") {
    exts.push({ name: "basicConstraints", cA: true, critical: true });
    exts.push({ name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true });
  } else {
    exts.push({ name: "basicConstraints", cA: false });
    exts.push({ name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true });
    exts.push({
      name: "extKeyUsage",
      serverAuth: req.usage === "server" || req.usage === "peer",
      clientAuth: req.usage === "client" || req.usage === "peer",
    });
  }
  if (req.altNames && req.altNames.length > 0) {
    exts.push({ name: "subjectAltName", altNames: req.altNames.map(altName) });
  }
  exts.push({ name: "subjectKeyIdentifier" });
  return exts;
}

export function issueCertificate(req: CertRequest): KeyAndCert {
  const keys = forge.pki.rsa.generateKeyPair({ bits: req.bits, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  const now = Date.now();
  // Backdated an hour so a party whose clock is a little behind still accepts it.
  cert.validity.notBefore = req.validity?.notBefore ?? new Date(now - HOUR_MS);
  cert.validity.notAfter = req.validity?.notAfter ?? new Date(now + req.days * 24 * HOUR_MS);
  cert.setSubject([{ shortName: "CN", value: req.commonName }]);

  let signingKey = keys.privateKey;
  if (req.issuer) {
    const issuerCert = forge.pki.certificateFromPem(req.issuer.certPem);
    cert.setIssuer(issuerCert.subject.attributes);
    signingKey = forge.pki.privateKeyFromPem(req.issuer.keyPem) as forge.pki.rsa.PrivateKey;
    const exts = extensionsFor(req);
    const ski = issuerCert.getExtension("subjectKeyIdentifier") as { subjectKeyIdentifier?: string } | null;
    if (ski?.subjectKeyIdentifier) {
      exts.push({ name: "authorityKeyIdentifier", keyIdentifier: forge.util.hexToBytes(ski.subjectKeyIdentifier) });
    }
    cert.setExtensions(exts);
  } else {
    cert.setIssuer(cert.subject.attributes);
    cert.setExtensions(extensionsFor(req));
  }
  cert.sign(signingKey, forge.md.sha256.create());

  const pkcs8 = forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keys.privateKey));
  return { keyPem: lf(forge.pki.privateKeyInfoToPem(pkcs8)), certPem: lf(forge.pki.certificateToPem(cert)) };
}

export function serialOf(certPem: string): string {
  return forge.pki.certificateFromPem(certPem).serialNumber;
}

export function commonNameOf(certPem: string): string | undefined {
  const field = forge.pki.certificateFromPem(certPem).subject.getField("CN") as { value?: string } | null;
  return field?.value;
}

export interface RevokedEntry {
  serial: string;
  /** ISO date of revocation. */
  date: string;
}

/**
 * Builds an X.509 v2 CRL signed by the CA (RFC 5280 section 5). node-forge has no CRL support,
 * so the ASN.1 is assembled here from forge's primitives.
 */
export function buildCrl(ca: KeyAndCert, revoked: readonly RevokedEntry[], days = 365): string {
  const { asn1 } = forge;
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem) as forge.pki.rsa.PrivateKey;
  const sha256WithRsa = () =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(forge.pki.oids["sha256WithRSAEncryption"] as string).getBytes()),
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ""),
    ]);
  const time = (d: Date) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d));
  const integer = (hex: string) =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(hex.length % 2 ? `0${hex}` : hex));
  const now = new Date();
  const tbsParts = [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(1)),
    sha256WithRsa(),
    forge.pki.distinguishedNameToAsn1(caCert.subject),
    time(now),
    time(new Date(now.getTime() + days * 24 * HOUR_MS)),
  ];
  if (revoked.length > 0) {
    tbsParts.push(
      asn1.create(
        asn1.Class.UNIVERSAL,
        asn1.Type.SEQUENCE,
        true,
        revoked.map((r) =>
          asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [integer(r.serial), time(new Date(r.date))]),
        ),
      ),
    );
  }
  const tbs = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, tbsParts);
  const md = forge.md.sha256.create();
  md.update(asn1.toDer(tbs).getBytes());
  const signature = caKey.sign(md);
  const crl = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    sha256WithRsa(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(0) + signature),
  ]);
  const der = asn1.toDer(crl).getBytes();
  return lf(forge.pem.encode({ type: "X509 CRL", body: der }));
}

export function assertBits(n: number): KeyBits {
  if ((KEY_BITS as readonly number[]).includes(n)) return n as KeyBits;
  throw new FrelayError("FRELAY_ERR_USAGE", `--bits ${n} is not supported (use 2048, 3072 or 4096)`);
}

/** Serials listed in a PEM CRL, upper-case hex without leading zeros. */
export function crlSerials(crlPem: string): Set<string> {
  const { asn1 } = forge;
  const serials = new Set<string>();
  for (const block of forge.pem.decode(crlPem)) {
    const crl = asn1.fromDer(block.body);
    const tbs = (crl.value as forge.asn1.Asn1[])[0];
    for (const field of (tbs?.value ?? []) as forge.asn1.Asn1[]) {
      // revokedCertificates: the SEQUENCE whose items are SEQUENCEs starting with an INTEGER.
      if (field.type !== asn1.Type.SEQUENCE || !Array.isArray(field.value)) continue;
      const first = field.value[0];
      if (!first || first.type !== asn1.Type.SEQUENCE || !Array.isArray(first.value)) continue;
      if (first.value[0]?.type !== asn1.Type.INTEGER) continue;
      for (const entry of field.value) {
        const serial = (entry.value as forge.asn1.Asn1[])[0];
        if (serial) serials.add(forge.util.bytesToHex(serial.value as string).toUpperCase().replace(/^0+(?=.)/, ""));
      }
    }
  }
  return serials;
}
