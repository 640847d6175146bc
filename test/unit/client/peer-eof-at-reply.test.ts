import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import { connect, dialRelay } from "../../../src/client/connect";
import { makeFixture, type Fixture } from "../../helpers/fixture";

/**
 * The relay ends a party's TCP connection when the other party dies right after pairing. When
 * that FIN comes in the same read as the reply and its close_notify, the party's record gate
 * has already seen the end of the TCP stream before the reply is read; the client must still
 * say at once that the peer is gone, not wait out its deadline on a stream that already ended.
 *
 * The "relay" here is a TLS server that answers like the real one would in that case: reply,
 * close_notify and FIN in one flight. (The real relay's version of this is peer-gone.test.ts,
 * where it is a race; here it happens every time.)
 */
describe("a party whose relay connection ends together with the reply", () => {
  let fx: Fixture;
  before(() => (fx = makeFixture([["0", "user1"], ["1", "user1"]])));
  after(() => fx.cleanup());

  /** A relay that answers `reply`, then sends close_notify and FIN at once. */
  async function endingRelay(reply: object): Promise<{ address: string; close(): void }> {
    const read = (f: string) => fs.readFileSync(`${fx.certsDir}/${f}`);
    const server = tls.createServer({ ca: read("relay-ca.pem"), cert: read("relay.pem"), key: read("relay.key"), requestCert: true }, (s) => {
      s.on("error", () => undefined);
      s.once("data", () => {
        s.end(JSON.stringify(reply));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
  }

  for (const mode of [1, 2] as const) {
    it(`as Mode ${mode}: rejects at once with the peer-gone error`, { timeout: 20_000 }, async () => {
      const relay = await endingRelay({ Mode: mode });
      try {
        const started = Date.now();
        await assert.rejects(connect({ ...fx.party("0.user1", "1.user1", relay.address, "eof"), timeoutMs: 15_000 }), /1\.user1 closed the connection right after pairing/);
        assert.ok(Date.now() - started < 10_000, `reported after ${Date.now() - started} ms`);
      } finally {
        relay.close();
      }
    });
  }

  it("a raw dial says the stream already ended, rather than hand over a socket that will never end", { timeout: 20_000 }, async () => {
    const relay = await endingRelay({ Mode: 1 });
    try {
      const d = await dialRelay({ ...fx.party("0.user1", "1.user1", relay.address, "eof"), timeoutMs: 15_000 });
      assert.equal(d.mode, 1);
      assert.equal(d.ended, true);
      assert.equal(d.rest.length, 0);
      d.socket.destroy();
    } finally {
      relay.close();
    }
  });
});
