import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import type * as tls from "node:tls";
import { startEndToEnd } from "../../../src/client/connect";
import { makeFixture, type Fixture } from "../../helpers/fixture";
import { readAll, sha256 } from "../../helpers/streams";

/** Two bare TCP ends on loopback, as the relay leaves them after the hand-off. */
async function tcpPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const dialed = net.connect({ port: (server.address() as net.AddressInfo).port, host: "127.0.0.1", allowHalfOpen: true });
  const pair: [net.Socket, net.Socket] = [await accepted, dialed];
  server.close();
  return pair;
}

/** Two ends of one HTTP/2 stream on loopback, as an h2 party and the relay's h2 front see it. */
async function h2Pair(): Promise<{ ends: [Duplex, Duplex]; close: () => void }> {
  const server = http2.createServer();
  const accepted = new Promise<http2.ServerHttp2Stream>((r) =>
    server.once("stream", (s) => {
      s.respond({ ":status": 200 });
      r(s);
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  const request = session.request({ ":method": "POST", ":path": "/frelay" });
  return { ends: [await accepted, request], close: () => (session.close(), server.close()) };
}

/** Reads like a slow stdout: takes one chunk, pauses, resumes a turn later. Rejects on a close before the end. */
function readSlowly(s: tls.TLSSocket, expected: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  return new Promise<Buffer>((resolve, reject) => {
    s.on("data", (c: Buffer) => {
      parts.push(c);
      s.pause();
      setImmediate(() => s.resume());
    });
    s.once("end", () => resolve(Buffer.concat(parts)));
    s.once("close", () => reject(new Error(`closed before its end, after ${Buffer.concat(parts).length} of ${expected} bytes`)));
  });
}

describe("end-to-end TLS half-close between two parties, on a bare TCP connection or an HTTP/2 stream", () => {
  let fx: Fixture;
  before(() => (fx = makeFixture([["0", "user1"], ["1", "user1"]])));
  after(() => fx.cleanup());

  // Node 20 and 22 dropped the last full TLS record here (83,616 of 100,000 bytes, every run)
  // when the TLS server ran directly on the net.Socket; tls-carrier.ts is the workaround.
  for (const size of [100_000, 1_000_000]) {
    it(`the TLS server (Mode 1) ends at once while its peer still sends ${size} bytes: every byte arrives`, { timeout: 30_000 }, async () => {
      const [forServer, forClient] = await tcpPair();
      const data = crypto.randomBytes(size);
      // Each acts the moment its own handshake is done, as parties do: the server's end and the
      // client's data cross on the wire.
      const got = startEndToEnd(forServer, 1, fx.party("1.user1", "0.user1", "127.0.0.1:1")).then((server) => {
        const all = readAll(server);
        server.end();
        return all;
      });
      const back = startEndToEnd(forClient, 2, fx.party("0.user1", "1.user1", "127.0.0.1:1")).then((client) => {
        const all = readAll(client);
        client.end(data);
        return all;
      });
      assert.equal(sha256(await got), sha256(data));
      assert.equal((await back).length, 0);
    });
  }

  // The workaround itself lost bytes (seen once as a short stdout from `frelay connect` at load
  // 12): when the carrier under the TLS server closed after both ends, Node destroyed the
  // TLSSocket along with it, dropping decrypted bytes a slow reader (a full stdout pipe) had
  // not taken yet, and no 'end' came. A reader that pauses after every chunk is that reader.
  it("a slow reader of the TLS server (Mode 1) that has ended its side still gets every byte and the end", { timeout: 30_000 }, async () => {
    const [forServer, forClient] = await tcpPair();
    const data = crypto.randomBytes(1_000_000);
    const [server, client] = await Promise.all([
      startEndToEnd(forServer, 1, fx.party("1.user1", "0.user1", "127.0.0.1:1")),
      startEndToEnd(forClient, 2, fx.party("0.user1", "1.user1", "127.0.0.1:1")),
    ]);
    server.end();
    const got = readSlowly(server, data.length);
    const back = readAll(client);
    client.end(data);
    const all = await got;
    assert.equal(all.length, data.length);
    assert.equal(sha256(all), sha256(data));
    assert.equal((await back).length, 0);
    // Nothing is left open: the TLS server closes the carrier and the socket when it is done.
    await new Promise<void>((resolve) => (forServer.destroyed ? resolve() : forServer.once("close", () => resolve())));
  });

  // On an HTTP/2 stream the same destroy came from the stream closing once both directions were
  // done: Node 22, 24 and 26 lost the last 33,344 of 1,000,000 bytes, in either role.
  for (const slowMode of [1, 2] as const) {
    it(`over an HTTP/2 stream, a slow reader in Mode ${slowMode} that has ended its side gets every byte and the end`, { timeout: 30_000 }, async () => {
      const { ends, close } = await h2Pair();
      try {
        const data = crypto.randomBytes(1_000_000);
        const [m1, m2] = await Promise.all([
          startEndToEnd(ends[0], 1, fx.party("1.user1", "0.user1", "127.0.0.1:1")),
          startEndToEnd(ends[1], 2, fx.party("0.user1", "1.user1", "127.0.0.1:1")),
        ]);
        const [slow, fast] = slowMode === 1 ? [m1, m2] : [m2, m1];
        slow.end();
        const got = readSlowly(slow, data.length);
        const back = readAll(fast);
        fast.end(data);
        const all = await got;
        assert.equal(all.length, data.length);
        assert.equal(sha256(all), sha256(data));
        assert.equal((await back).length, 0);
      } finally {
        close();
      }
    });
  }
});
