import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { RecordGate } from "../../../src/transport/record-gate";
import { makeFixture, type Fixture } from "../../helpers/fixture";

/**
 * The relay's reply over a JavaScript stream: Node's TLS hands the gate the reply's record, then
 * (a turn later) its close_notify, then (another turn later) ends the gate's write side. The
 * pair must leave, in one TCP write, as soon as the close_notify exists: the waiting party's
 * reply waits for this one, and every turn is on the pairing's critical path.
 */
describe("record gate: the last record and close_notify leave as soon as both exist", () => {
  let fx: Fixture;
  before(() => (fx = makeFixture([["0", "user1"]])));
  after(() => fx.cleanup());

  it("sends before the TLS layer's end reaches the gate, and the party reads the reply, then close_notify", { timeout: 20_000 }, async () => {
    const read = (f: string) => fs.readFileSync(`${fx.certsDir}/${f}`);
    const context = tls.createSecureContext({ ca: read("relay-ca.pem"), cert: read("relay.pem"), key: read("relay.key") });
    const server = net.createServer({ allowHalfOpen: true });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const relaySide = new Promise<{ endedAtSend: boolean; segments: number }>((resolve, reject) => {
      server.once("connection", (raw) => {
        raw.setNoDelay(true);
        const gate = new RecordGate(raw);
        const tlsSocket = new tls.TLSSocket(gate, { isServer: true, secureContext: context, requestCert: true, rejectUnauthorized: true });
        tlsSocket.on("error", reject);
        tlsSocket.once("data", () => {
          let writes = 0;
          const write = raw.write.bind(raw) as (...args: unknown[]) => boolean;
          raw.write = (...args: unknown[]) => (writes++, write(...args));
          gate.once("tlsFinished", () => {
            resolve({ endedAtSend: gate.writableEnded, segments: writes });
            gate.detach();
            tlsSocket.destroy();
          });
          gate.sendLast(tlsSocket, '{"Mode":1}');
        });
      });
    });
    const party = fx.party("0.user1", "1.user1", "");
    const client = tls.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, ca: party.relayCa, cert: party.relayCert, key: party.relayKey, servername: "frelay" });
    const seen: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      client.on("error", reject);
      client.on("data", (c: Buffer) => seen.push(c.toString()));
      client.on("end", resolve);
    });
    client.once("secureConnect", () => client.write('{"DestParty":"1.user1"}'));
    const relay = await relaySide;
    await ended;
    client.destroy();
    server.close();
    assert.equal(relay.endedAtSend, false, "the reply waited for the TLS layer to end the gate's write side (two event-loop turns late)");
    assert.equal(relay.segments, 1, "the reply and its close_notify went to TCP in more than one write");
    assert.deepEqual(seen, ['{"Mode":1}'], "the party read something other than the reply before close_notify");
  });
});
