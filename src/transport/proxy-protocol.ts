import * as net from "node:net";

/**
 * PROXY protocol v1 and v2 (haproxy.org/download/2.9/doc/proxy-protocol.txt), as sent by nginx
 * `proxy_protocol on` and HAProxy `send-proxy` / `send-proxy-v2` in front of the direct
 * listener. Parses from the start of a connection's bytes; never reads past the header.
 */
export interface ProxyAddress {
  address: string;
  port: number;
}

export interface ProxyTlv {
  type: number;
  value: Buffer;
}

export type ProxyParse =
  | { kind: "incomplete" }
  | { kind: "error"; reason: string }
  | {
      kind: "ok";
      /** Header length: the connection's own bytes start after it. */
      consumed: number;
      version: 1 | 2;
      /** "local": a health check by the proxy itself; the connection's own addresses apply. */
      command: "proxy" | "local";
      source?: ProxyAddress;
      destination?: ProxyAddress;
      tlvs: ProxyTlv[];
    };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from("PROXY ");
const V1_MAX = 107;
/** v2 allows 64 KiB of addresses and TLVs; we accept what real proxies send. */
export const V2_MAX_PAYLOAD = 4096;
const PP2_TYPE_CRC32C = 0x03;

export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return { kind: "incomplete" };
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  return { kind: "error", reason: "no PROXY protocol header (proxy_protocol is on: connect through the proxy)" };
}

function prefixMismatch(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return !buf.subarray(0, n).equals(prefix.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyParse {
  if (prefixMismatch(buf, V1_PREFIX)) return { kind: "error", reason: "no PROXY protocol header" };
  const end = buf.indexOf("\r\n");
  if (end < 0) return buf.length >= V1_MAX ? { kind: "error", reason: "PROXY v1 line longer than 107 bytes" } : { kind: "incomplete" };
  if (end + 2 > V1_MAX) return { kind: "error", reason: "PROXY v1 line longer than 107 bytes" };
  const parts = buf.subarray(0, end).toString("latin1").split(" ");
  const consumed = end + 2;
  if (parts[1] === "UNKNOWN") return { kind: "ok", consumed, version: 1, command: "local", tlvs: [] };
  if (parts.length !== 6 || (parts[1] !== "TCP4" && parts[1] !== "TCP6")) return { kind: "error", reason: "malformed PROXY v1 line" };
  const family = parts[1] === "TCP4" ? 4 : 6;
  const [src, dst, sport, dport] = parts.slice(2) as [string, string, string, string];
  if (net.isIP(src) !== family || net.isIP(dst) !== family) return { kind: "error", reason: "PROXY v1 addresses do not match their family" };
  const port = (p: string) => (/^(0|[1-9][0-9]{0,4})$/.test(p) && Number(p) <= 65535 ? Number(p) : undefined);
  const sp = port(sport);
  const dp = port(dport);
  if (sp === undefined || dp === undefined) return { kind: "error", reason: "PROXY v1 ports are not valid" };
  return { kind: "ok", consumed, version: 1, command: "proxy", source: { address: src, port: sp }, destination: { address: dst, port: dp }, tlvs: [] };
}

function parseV2(buf: Buffer): ProxyParse {
  if (prefixMismatch(buf, V2_SIGNATURE)) return { kind: "error", reason: "no PROXY protocol header" };
  if (buf.length < 16) return { kind: "incomplete" };
  const verCmd = buf[12] as number;
  const famProto = buf[13] as number;
  const length = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return { kind: "error", reason: `PROXY v2 header with version ${verCmd >> 4}` };
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return { kind: "error", reason: `PROXY v2 header with unknown command ${cmd}` };
  if (length > V2_MAX_PAYLOAD) return { kind: "error", reason: `PROXY v2 header of ${length} bytes is larger than allowed` };
  if (buf.length < 16 + length) return { kind: "incomplete" };
  const consumed = 16 + length;
  const body = buf.subarray(16, consumed);
  const family = famProto >> 4;
  const addrLen = family === 1 ? 12 : family === 2 ? 36 : family === 3 ? 216 : 0;
  if (family > 3) return { kind: "error", reason: `PROXY v2 header with unknown address family ${family}` };
  if (body.length < addrLen) return { kind: "error", reason: "PROXY v2 address block shorter than its family needs" };
  const tlvs = parseTlvs(body.subarray(addrLen));
  if (typeof tlvs === "string") return { kind: "error", reason: tlvs };
  const crc = tlvs.find((t) => t.type === PP2_TYPE_CRC32C);
  if (crc) {
    if (crc.value.length !== 4) return { kind: "error", reason: "PROXY v2 CRC32C TLV of the wrong size" };
    // The checksum covers the whole header with the checksum field itself zeroed.
    const copy = Buffer.from(buf.subarray(0, consumed));
    const at = crc.value.byteOffset - buf.byteOffset;
    copy.fill(0, at, at + 4);
    if (crc32c(copy) !== crc.value.readUInt32BE(0)) return { kind: "error", reason: "PROXY v2 CRC32C mismatch" };
  }
  if (cmd === 0) return { kind: "ok", consumed, version: 2, command: "local", tlvs };
  if (family === 1) {
    return {
      kind: "ok", consumed, version: 2, command: "proxy", tlvs,
      source: { address: ipv4(body.subarray(0, 4)), port: body.readUInt16BE(8) },
      destination: { address: ipv4(body.subarray(4, 8)), port: body.readUInt16BE(10) },
    };
  }
  if (family === 2) {
    return {
      kind: "ok", consumed, version: 2, command: "proxy", tlvs,
      source: { address: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) },
      destination: { address: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34) },
    };
  }
  // UNSPEC or UNIX: no IP address to report; the connection's own address applies.
  return { kind: "ok", consumed, version: 2, command: "proxy", tlvs };
}

function parseTlvs(b: Buffer): ProxyTlv[] | string {
  const out: ProxyTlv[] = [];
  let i = 0;
  while (i < b.length) {
    if (b.length - i < 3) return "PROXY v2 TLV truncated";
    const type = b[i] as number;
    const len = b.readUInt16BE(i + 1);
    if (i + 3 + len > b.length) return "PROXY v2 TLV longer than the header";
    out.push({ type, value: b.subarray(i + 3, i + 3 + len) });
    i += 3 + len;
  }
  return out;
}

function ipv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

function ipv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Canonical form (RFC 5952) via the URL parser: compresses the longest zero run.
  return new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32C (Castagnoli), as PROXY v2's PP2_TYPE_CRC32C uses. */
export function crc32c(data: Buffer): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
