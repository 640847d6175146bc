import { it } from "node:test";
import * as assert from "node:assert/strict";
import { crc32c, parseProxyHeader } from "../../../src/transport/proxy-protocol";
import { v2 } from "../../helpers/proxy-header";

it("parses v1 TCP4, TCP6 and UNKNOWN, and leaves the bytes after the header alone", () => {
  const r = parseProxyHeader(Buffer.from("PROXY TCP4 198.51.100.22 10.0.0.1 35646 6000\r\n\x16\x03\x01"));
  assert.equal(r.kind, "ok");
  if (r.kind !== "ok") return;
  assert.deepEqual(r.source, { address: "198.51.100.22", port: 35646 });
  assert.equal(r.consumed, "PROXY TCP4 198.51.100.22 10.0.0.1 35646 6000\r\n".length);
  const six = parseProxyHeader(Buffer.from("PROXY TCP6 2001:db8::1 ::1 1 443\r\n"));
  assert.deepEqual(six.kind === "ok" && six.source, { address: "2001:db8::1", port: 1 });
  const unknown = parseProxyHeader(Buffer.from("PROXY UNKNOWN ffff:f...\r\n"));
  assert.equal(unknown.kind === "ok" && unknown.command, "local");
});

it("parses v2 INET and INET6 with TLVs, LOCAL, and UNIX", () => {
  const alpn = Buffer.concat([Buffer.from([0x01, 0x00, 0x02]), Buffer.from("h2")]);
  const r = parseProxyHeader(Buffer.concat([v2({ tlvs: [alpn], crc: true }), Buffer.from("rest")]));
  assert.equal(r.kind, "ok");
  if (r.kind !== "ok") return;
  assert.deepEqual(r.source, { address: "203.0.113.7", port: 12345 });
  assert.deepEqual(r.destination, { address: "10.0.0.1", port: 6000 });
  assert.equal(r.tlvs.find((t) => t.type === 1)?.value.toString(), "h2");
  const addr6 = Buffer.alloc(36);
  Buffer.from("20010db8000000000000000000000042", "hex").copy(addr6, 0);
  addr6[31] = 1;
  addr6.writeUInt16BE(4242, 32);
  addr6.writeUInt16BE(6000, 34);
  const six = parseProxyHeader(v2({ fam: 0x21, addr: addr6 }));
  assert.deepEqual(six.kind === "ok" && six.source, { address: "2001:db8::42", port: 4242 });
  const local = parseProxyHeader(v2({ cmd: 0, fam: 0x00, addr: Buffer.alloc(0) }));
  assert.equal(local.kind === "ok" && local.command, "local");
  const unix = parseProxyHeader(v2({ fam: 0x31, addr: Buffer.alloc(216) }));
  assert.equal(unix.kind === "ok" && unix.source, undefined);
});

it("is incomplete, never wrong, at every split point of a header", () => {
  for (const header of [v2({ crc: true }), Buffer.from("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")]) {
    for (let n = 0; n < header.length; n++) assert.equal(parseProxyHeader(header.subarray(0, n)).kind, "incomplete", `${n} bytes`);
    assert.equal(parseProxyHeader(header).kind, "ok");
  }
});

it("refuses what is not a valid header, with a reason", () => {
  const bad = (b: Buffer | string, re: RegExp) => {
    const r = parseProxyHeader(Buffer.isBuffer(b) ? b : Buffer.from(b));
    assert.equal(r.kind, "error", String(b));
    assert.match(r.kind === "error" ? r.reason : "", re);
  };
  bad("\x16\x03\x01\x02\x00", /no PROXY protocol header/);
  bad("PROXY TCP4 1.2.3.4 ::1 1 2\r\n", /family/);
  bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", /ports/);
  bad(`PROXY TCP4 ${"1".repeat(120)}`, /longer than 107/);
  bad("PROXX", /no PROXY/);
  const crcBroken = v2({ crc: true });
  crcBroken[16] = (crcBroken[16] as number) ^ 1;
  bad(crcBroken, /CRC32C mismatch/);
  const truncatedTlv = v2({ tlvs: [Buffer.from([0x05, 0x00, 0x09, 1, 2])] });
  bad(truncatedTlv, /TLV longer than the header/);
  const v3 = v2();
  v3[12] = 0x31;
  bad(v3, /version 3/);
  const huge = v2();
  huge.writeUInt16BE(60000, 14);
  bad(huge, /larger than allowed/);
});

it("crc32c matches the standard check value", () => {
  assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
});
