import * as crypto from "node:crypto";
import * as net from "node:net";
import forge from "node-forge";
import { PkiError, UsageError } from "../errors";
import { buildCertificate, issuerParts } from "./x509-builder";

/**
 * The only module that speaks node-forge: key pairs, CA and leaf certificates, CRLs.
 * Keys are RSA (the default) or ECDSA P-256, PKCS#8 PEM; signatures SHA-256. Chains with an EC
 * key anywhere are made with Node's crypto (x509-builder.ts): node-forge knows only RSA.
 */
export type KeyBits = 2048 | 3072 | 4096;
export const KEY_BITS: readonly KeyBits[] = [2048, 3072, 4096];
export type KeyType = "rsa" | "ec";
export const KEY_TYPES: readonly KeyType[] = ["rsa", "ec"];

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

type Usage = "ca" | "server" | "client" | "peer";

interface CertRequest {
  commonName: string;
  /** Subject OU: marks node certificates (pki/node-identity.ts). */
  organizationalUnit?: string;
  usage: Usage;
  days: number;
  bits: KeyBits;
  /** RSA (of `bits`) unless "ec" (P-256). */
  keyType?: KeyType;
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
  const issuerIsEc = req.issuer !== undefined && crypto.createPrivateKey(req.issuer.keyPem).asymmetricKeyType === "ec";
  if (req.keyType === "ec" || issuerIsEc) return issueWithNodeCrypto(req);
  const keys = forge.pki.rsa.generateKeyPair({ bits: req.bits, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = randomSerial();
  const now = Date.now();
  // Backdated an hour so a party whose clock is a little behind still accepts it.
  cert.validity.notBefore = req.validity?.notBefore ?? new Date(now - HOUR_MS);
  cert.validity.notAfter = req.validity?.notAfter ?? new Date(now + req.days * 24 * HOUR_MS);
  cert.setSubject([
    ...(req.organizationalUnit ? [{ shortName: "OU", value: req.organizationalUnit }] : []),
    { shortName: "CN", value: req.commonName },
  ]);

  let signingKey = keys.privateKey;
  if (req.issuer) {
    const issuerCert = forge.pki.certificateFromPem(req.issuer.certPem);
    cert.setIssuer(issuerCert.subject.attributes);
    signingKey = forge.pki.privateKeyFromPem(req.issuer.keyPem);
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

/** A certificate with an EC key, or signed by one; its key is made by Node's crypto too. */
function issueWithNodeCrypto(req: CertRequest): KeyAndCert {
  const { privateKey, publicKey } =
    req.keyType === "ec" ? crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" }) : crypto.generateKeyPairSync("rsa", { modulusLength: req.bits, publicExponent: 0x10001 });
  const now = Date.now();
  const certPem = buildCertificate({
    commonName: req.commonName,
    ...(req.organizationalUnit ? { organizationalUnit: req.organizationalUnit } : {}),
    usage: req.usage,
    notBefore: req.validity?.notBefore ?? new Date(now - HOUR_MS),
    notAfter: req.validity?.notAfter ?? new Date(now + req.days * 24 * HOUR_MS),
    serialHex: randomSerial(),
    publicKey,
    ...(req.altNames ? { altNames: req.altNames } : {}),
    ...(req.issuer ? { issuer: req.issuer } : { selfKey: privateKey }),
  });
  return { keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, certPem };
}

/** The serial, hex (read by Node's crypto: node-forge cannot parse a certificate with an EC key). */
export function serialOf(certPem: string): string {
  return new crypto.X509Certificate(certPem).serialNumber.toLowerCase();
}

export function commonNameOf(certPem: string): string | undefined {
  const cn = new crypto.X509Certificate(certPem).subject.split("\n").find((l) => l.startsWith("CN="));
  return cn?.slice(3);
}

export interface RevokedEntry {
  /** Hex, as written by serialOf() or normalizeSerial(). */
  serial: string;
  /** ISO date of revocation. */
  date: string;
}

/** A CRL as the relay reads it: its entries, its dates, and the signed bytes. */
export interface ParsedCrl {
  entries: RevokedEntry[];
  thisUpdate: Date;
  nextUpdate?: Date;
  tbsDer: Buffer;
  signatureOid: string;
  signature: Buffer;
}

/** How far thisUpdate is backdated: a verifier whose clock lags the signer's still accepts the CRL. */
export const CRL_BACKDATE_MS = 10 * 60_000;
export const CRL_DAYS = 365;

const OID_SHA256_RSA = forge.pki.oids["sha256WithRSAEncryption"] as string;
const OID_ECDSA_SHA256 = "1.2.840.10045.4.3.2";

/**
 * Builds an X.509 v2 CRL signed by the CA (RFC 5280 section 5). node-forge has no CRL support,
 * so the ASN.1 is assembled here from forge's primitives, and signed with Node's crypto (which
 * signs with an RSA or an EC key alike).
 */
export function buildCrl(ca: KeyAndCert, revoked: readonly RevokedEntry[], opts: { days?: number; now?: Date } = {}): string {
  const { asn1 } = forge;
  const caSubject = asn1.fromDer(issuerParts(ca.certPem).subject.toString("binary"));
  const caKey = crypto.createPrivateKey(ca.keyPem);
  const sigOid = caKey.asymmetricKeyType === "ec" ? OID_ECDSA_SHA256 : OID_SHA256_RSA;
  const algorithm = () =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(sigOid).getBytes()),
      // RSA's AlgorithmIdentifier carries NULL parameters; ECDSA's carries none (RFC 5758).
      ...(sigOid === OID_SHA256_RSA ? [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, "")] : []),
    ]);
  const time = (d: Date) => asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d));
  const integer = (hex: string) => {
    let h = hex.length % 2 ? `0${hex}` : hex;
    // DER INTEGER is signed: a high first bit needs a zero byte in front to stay positive.
    if (/^[89a-f]/i.test(h)) h = `00${h}`;
    return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(h));
  };
  const now = opts.now ?? new Date();
  const tbsParts = [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, String.fromCharCode(1)),
    algorithm(),
    caSubject,
    time(new Date(now.getTime() - CRL_BACKDATE_MS)),
    time(new Date(now.getTime() + (opts.days ?? CRL_DAYS) * 24 * HOUR_MS)),
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
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), "binary");
  const signature = crypto.sign("sha256", tbsDer, caKey).toString("binary");
  const crl = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithm(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, String.fromCharCode(0) + signature),
  ]);
  const der = asn1.toDer(crl).getBytes();
  return lf(forge.pem.encode({ type: "X509 CRL", body: der }));
}

/** Parses the first CRL in a PEM text; throws on anything that is not one. */
export function parseCrl(crlPem: string): ParsedCrl {
  const { asn1 } = forge;
  const block = forge.pem.decode(crlPem).find((b) => b.type === "X509 CRL");
  if (!block) throw new PkiError("no X509 CRL block");
  // decodeBitStrings off: an ECDSA signature is itself DER, and forge would otherwise parse the
  // signature BIT STRING into a structure (an EC-signed CRL then never verified).
  // (forge takes this options object; its type declarations know only the older boolean.)
  const fromDer = asn1.fromDer as unknown as (bytes: string, options: { decodeBitStrings: boolean }) => forge.asn1.Asn1;
  const crl = fromDer(block.body, { decodeBitStrings: false });
  const [tbs, alg, sig] = crl.value as forge.asn1.Asn1[];
  if (!tbs || !alg || !sig || !Array.isArray(tbs.value)) throw new PkiError("not a CRL");
  const fields = tbs.value;
  // version is optional (present in v2); then signature, issuer, thisUpdate, [nextUpdate], [revoked], [extensions].
  let i = fields[0]?.type === asn1.Type.INTEGER ? 1 : 0;
  i += 2; // signature algorithm, issuer
  const isTime = (f: forge.asn1.Asn1 | undefined) => f !== undefined && (f.type === asn1.Type.UTCTIME || f.type === asn1.Type.GENERALIZEDTIME);
  const readTime = (f: forge.asn1.Asn1) => (f.type === asn1.Type.UTCTIME ? asn1.utcTimeToDate(f.value as string) : asn1.generalizedTimeToDate(f.value as string));
  const thisField = fields[i++];
  if (!isTime(thisField)) throw new PkiError("CRL without thisUpdate");
  const thisUpdate = readTime(thisField as forge.asn1.Asn1);
  let nextUpdate: Date | undefined;
  if (isTime(fields[i])) nextUpdate = readTime(fields[i++] as forge.asn1.Asn1);
  const entries: RevokedEntry[] = [];
  const list = fields[i];
  if (list && list.tagClass === asn1.Class.UNIVERSAL && list.type === asn1.Type.SEQUENCE) {
    for (const entry of list.value as forge.asn1.Asn1[]) {
      const [serial, date] = entry.value as forge.asn1.Asn1[];
      if (!serial || serial.type !== asn1.Type.INTEGER) throw new PkiError("CRL entry without a serial");
      entries.push({
        serial: forge.util.bytesToHex(serial.value as string).toUpperCase().replace(/^0+(?=.)/, ""),
        date: (date && isTime(date) ? readTime(date) : thisUpdate).toISOString(),
      });
    }
  }
  const oidField = (alg.value as forge.asn1.Asn1[])[0];
  return {
    entries,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    tbsDer: Buffer.from(asn1.toDer(tbs).getBytes(), "binary"),
    signatureOid: oidField ? asn1.derToOid(oidField.value as string) : "",
    // A BIT STRING's first byte counts unused bits (always 0 here).
    signature: Buffer.from((sig.value as string).slice(1), "binary"),
  };
}

/** True when `crl` carries a valid signature by the CA certificate `caPem` (one of them, for a bundle). */
export function crlSignedBy(crl: ParsedCrl, caPem: string): boolean {
  if (crl.signatureOid !== OID_SHA256_RSA && crl.signatureOid !== OID_ECDSA_SHA256) return false;
  const cas = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return cas.some((pem) => {
    try {
      return crypto.verify("sha256", crl.tbsDer, new crypto.X509Certificate(pem).publicKey, crl.signature);
    } catch {
      return false;
    }
  });
}

export function assertKeyType(t: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(t)) return t as KeyType;
  throw new UsageError(`--key-type ${t} is not supported (use rsa or ec)`);
}

export function assertBits(n: number): KeyBits {
  if ((KEY_BITS as readonly number[]).includes(n)) return n as KeyBits;
  throw new UsageError(`--bits ${n} is not supported (use 2048, 3072 or 4096)`);
}

/** Serials listed in a PEM CRL, upper-case hex without leading zeros. */
export function crlSerials(crlPem: string): Set<string> {
  return new Set(parseCrl(crlPem).entries.map((e) => e.serial));
}
