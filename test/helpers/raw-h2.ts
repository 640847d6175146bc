/**
 * HTTP/2 frames written by hand, for clients that must behave in ways Node's http2 client will
 * not (send a request and reset the connection in the same breath).
 */

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 5.1). */
function hpackInt(value: number, prefixBits: number, firstByteFlags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteFlags | value]);
  const out = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, "utf8");
  return Buffer.concat([hpackInt(b.length, 7), b]);
}

/** Headers as HPACK literals without indexing (no dynamic table needed), in the given order. */
function hpackBlock(headers: readonly [string, string][]): Buffer {
  return Buffer.concat(headers.map(([n, v]) => Buffer.concat([Buffer.from([0x00]), hpackString(n), hpackString(v)])));
}

/** Preface, an empty SETTINGS and one HEADERS frame (END_HEADERS, stream 1): a whole request start. */
export function h2RequestBytes(headers: readonly [string, string][]): Buffer {
  return Buffer.concat([PREFACE, frame(0x4, 0, 0, Buffer.alloc(0)), frame(0x1, 0x4, 1, hpackBlock(headers))]);
}
