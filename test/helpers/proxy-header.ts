import { crc32c } from "../../src/transport/proxy-protocol";

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Builds a v2 header the way HAProxy does (optionally with a CRC32C TLV filled in). */
export function v2(opts: { cmd?: number; fam?: number; addr?: Buffer; tlvs?: Buffer[]; crc?: boolean } = {}): Buffer {
  const addr = opts.addr ?? Buffer.from([203, 0, 113, 7, 10, 0, 0, 1, 0x30, 0x39, 0x17, 0x70]); // 203.0.113.7:12345 → 10.0.0.1:6000
  const tlvs = [...(opts.tlvs ?? [])];
  if (opts.crc) tlvs.push(Buffer.from([0x03, 0x00, 0x04, 0, 0, 0, 0]));
  const body = Buffer.concat([addr, ...tlvs]);
  const head = Buffer.concat([SIG, Buffer.from([0x20 | (opts.cmd ?? 1), opts.fam ?? 0x11, body.length >> 8, body.length & 0xff]), body]);
  if (opts.crc) head.writeUInt32BE(crc32c(head), head.length - 4);
  return head;
}

