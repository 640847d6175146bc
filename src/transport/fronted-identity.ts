import * as crypto from "node:crypto";
import * as net from "node:net";
import { identityOf, normalizeSerial, type PeerResult } from "./peer-identity";

/**
 * The identity of a party that came through a TLS-terminating front (nginx, Apache, HAProxy),
 * from the certificate the front forwards in `client_cert_header`:
 *  - URL-escaped PEM (nginx $ssl_client_escaped_cert, Apache %{escape:...}), or PEM whose
 *    newlines a front turned into spaces;
 *  - base64 DER (HAProxy ssl_c_der,base64).
 * The front is trusted only to pass the certificate, not to judge it: the relay checks the
 * signature by the relay CA, the dates and the CRL itself.
 */
export function fronted(headerValue: string | undefined, caPem: string, isRevoked: (serial: string) => boolean, now = Date.now()): PeerResult {
  if (!headerValue) return { ok: false, reason: "no client certificate header from the front (check its client_cert_header setting)" };
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(decodeHeader(headerValue));
  } catch {
    return { ok: false, reason: "client certificate header is not a certificate (URL-escaped PEM or base64 DER expected)" };
  }
  const cas = splitPem(caPem).map((p) => new crypto.X509Certificate(p));
  const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuer) return { ok: false, reason: "client certificate rejected: not signed by the relay CA" };
  if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) return { ok: false, reason: "client certificate rejected: outside its validity dates" };
  const serial = normalizeSerial(cert.serialNumber);
  if (isRevoked(serial)) return { ok: false, reason: "client certificate rejected: certificate revoked" };
  return identityOf(cert);
}

function decodeHeader(value: string): Buffer | string {
  let v = value.trim();
  // URL-escaped PEM: nginx leaves the dashes alone ("-----BEGIN%20CERTIFICATE-----%0A..."),
  // encodeURIComponent too; base64 DER never contains '%'.
  if (v.includes("%")) v = decodeURIComponent(v);
  if (v.startsWith("-----BEGIN")) {
    const pem = v;
    // Some fronts fold the PEM onto one line with spaces; rebuild the base64 body's lines.
    const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
    if (!m) return pem;
    const body = (m[1] as string).replace(/\s+/g, "");
    return `-----BEGIN CERTIFICATE-----\n${body.replace(/.{1,64}/g, "$&\n")}-----END CERTIFICATE-----\n`;
  }
  return Buffer.from(v, "base64");
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** trusted_proxies: addresses or CIDR blocks; IPv4-mapped IPv6 addresses count as IPv4. */
export class TrustedProxies {
  private readonly list = new net.BlockList();

  constructor(entries: readonly string[]) {
    for (const e of entries) {
      const [addr, bits] = e.split("/") as [string, string | undefined];
      const type = net.isIPv6(addr) ? "ipv6" : "ipv4";
      if (bits !== undefined) this.list.addSubnet(addr, Number(bits), type);
      else this.list.addAddress(addr, type);
    }
  }

  has(address: string | undefined): boolean {
    if (!address) return false;
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (v4) return this.list.check(v4, "ipv4");
    return this.list.check(address, net.isIPv6(address) ? "ipv6" : "ipv4");
  }
}
