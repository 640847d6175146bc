import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { RecordGate } from "../../../src/transport/record-gate";

/** A TLS record header + body of `len` bytes of `fill` (the gate reads headers, never bodies). */
function record(type: number, len: number, fill: number): Buffer {
  const r = Buffer.alloc(5 + len, fill);
  r[0] = type;
  r[1] = 3;
  r[2] = 3;
  r.writeUInt16BE(len, 3);
  return r;
}

describe("record gate: one whole record per turn, and the bytes after the last one kept exact", () => {
  let server: net.Server;
  let port = 0;
  const accepted: net.Socket[] = [];
  const waiters: ((s: net.Socket) => void)[] = [];
  before(async () => {
    server = net.createServer({ allowHalfOpen: true }, (s) => {
      const w = waiters.shift();
      if (w) w(s);
      else accepted.push(s);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => server.close());

  async function connection(): Promise<[net.Socket, net.Socket]> {
    const theirs = new Promise<net.Socket>((r) => waiters.push(r));
    const ours = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    return [await theirs, ours];
  }

  // Two records (a handshake one and an alert, as a reply + close_notify), then raw bytes that
  // are not TLS at all: the gate must hand over exactly the records and keep the rest.
  const first = record(22, 40, 0xaa);
  const second = record(21, 2, 0xbb);
  const raw = Buffer.from("\x00raw stream bytes, never for TLS");
  const wire = Buffer.concat([first, second, raw]);

  it("split at every byte boundary", { timeout: 60_000 }, async () => {
    for (let cut = 1; cut < wire.length; cut++) {
      const [sock, sender] = await connection();
      const gate = new RecordGate(sock);
      const chunks: Buffer[] = [];
      const detached = new Promise<Buffer>((resolve) => {
        gate.on("data", (c: Buffer) => {
          chunks.push(c);
          // The owner stops the feed in the turn of the record that completes its message.
          if (chunks.length === 2) resolve(gate.detach());
        });
      });
      sender.write(wire.subarray(0, cut));
      // The second piece only once the first has been read: a real split, never coalesced.
      await new Promise((r) => setImmediate(r));
      sender.end(wire.subarray(cut));
      const leftover = await detached;
      assert.deepEqual(chunks, [first, second], `cut at ${cut}: the gate gave TLS something other than the two whole records`);
      // What TCP still holds follows the leftover; together they are the raw bytes, exactly.
      if (leftover.length > 0 && !gate.tcpEnded) sock.unshift(leftover);
      const rest: Buffer[] = gate.tcpEnded ? [leftover] : [];
      if (!gate.tcpEnded) {
        await new Promise<void>((resolve) => {
          sock.on("data", (c: Buffer) => rest.push(c));
          sock.on("end", resolve);
          sock.resume();
        });
      }
      assert.deepEqual(Buffer.concat(rest), raw, `cut at ${cut}: the raw bytes after the records`);
      sock.destroy();
      sender.destroy();
    }
  });

  it("refuses what is not TLS, and a record body over the legal size", { timeout: 10_000 }, async () => {
    for (const bad of [Buffer.from("GET / HTTP/1.1\r\n\r\n"), record(23, 0, 0).fill(0xff, 3, 5)]) {
      const [sock, sender] = await connection();
      const gate = new RecordGate(sock);
      const err = new Promise<Error>((resolve) => gate.on("error", resolve));
      gate.resume();
      sender.write(bad);
      assert.match((await err).message, /not TLS/);
      sock.destroy();
      sender.destroy();
    }
  });

  it("after hold(), any byte from the party is a violation (it may not speak before its reply)", { timeout: 10_000 }, async () => {
    const [sock, sender] = await connection();
    const gate = new RecordGate(sock);
    gate.on("data", () => gate.hold());
    const violation = new Promise<string>((resolve) => gate.on("violation", resolve));
    sender.write(first);
    await new Promise((r) => gate.once("data", r));
    sender.write("early");
    assert.match(await violation, /before the relay's reply/);
    sock.destroy();
    sender.destroy();
  });
});
