/**
 * Just enough of a TLS ClientHello to read the client's ALPN offer before any TLS object sees
 * the connection: a client that offers h2 gets Node's native TLS straight on the TCP socket
 * (HTTP/2 never hands the connection back), everyone else the RecordGate (see record-gate.ts).
 */
export type HelloPeek =
  | { kind: "incomplete" }
  /** `alpn` is empty when the client offers none, or when the hello could not be read here. */
  | { kind: "read"; alpn: string[] };

const RECORD_HEADER = 5;
const MAX_RECORD = 16384 + 2048;
const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_ALPN = 16;

/** Needs the first record whole; anything unusual reads as "no ALPN" and TLS itself judges it. */
export function peekAlpn(buf: Buffer): HelloPeek {
  if (buf.length < RECORD_HEADER) return { kind: "incomplete" };
  const length = buf.readUInt16BE(3);
  if (buf[0] !== HANDSHAKE || buf[1] !== 3 || length > MAX_RECORD) return { kind: "read", alpn: [] };
  if (buf.length < RECORD_HEADER + length) return { kind: "incomplete" };
  try {
    return { kind: "read", alpn: alpnOf(buf.subarray(RECORD_HEADER, RECORD_HEADER + length)) };
  } catch {
    return { kind: "read", alpn: [] }; // truncated or fragmented over records: not ours to judge
  }
}

function alpnOf(hs: Buffer): string[] {
  let at = 0;
  const need = (n: number) => {
    if (at + n > hs.length) throw new RangeError("short");
  };
  const u8 = () => (need(1), hs[at++] as number);
  const u16 = () => (need(2), (at += 2), hs.readUInt16BE(at - 2));
  const skip = (n: number) => (need(n), (at += n));
  if (u8() !== CLIENT_HELLO) return [];
  skip(3); // handshake length: a hello longer than this record throws below and reads as none
  skip(2 + 32); // legacy_version, random
  skip(u8()); // legacy_session_id
  skip(u16()); // cipher_suites
  skip(u8()); // legacy_compression_methods
  const extEnd = u16() + at;
  while (at + 4 <= extEnd) {
    const type = u16();
    const len = u16();
    if (type !== EXT_ALPN) {
      skip(len);
      continue;
    }
    const listEnd = u16() + at;
    const out: string[] = [];
    while (at < listEnd) {
      const n = u8();
      need(n);
      out.push(hs.toString("latin1", at, at + n));
      at += n;
    }
    return out;
  }
  return [];
}
