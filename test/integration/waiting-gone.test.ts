import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import type { Fixture } from "../helpers/fixture";
import { suiteRelay, type RunningRelay } from "../helpers/cli";
import { waitForStatus } from "../helpers/control-state";

/**
 * A stream party that has sent its request and waits, over a TCP socket the test holds, so the
 * test can end the connection in each way a client can: close_notify + FIN, a bare FIN, an RST.
 */
async function waitingParty(fx: Fixture, relay: RunningRelay, tag: string): Promise<{ tcp: net.Socket; tlsSocket: tls.TLSSocket }> {
  const s = fx.party("0.user1", "1.user1", relay.address, tag);
  const tcp = net.connect({ host: "127.0.0.1", port: relay.port, allowHalfOpen: true });
  await new Promise((r) => tcp.once("connect", r));
  const tlsSocket = tls.connect({ socket: tcp, ca: s.relayCa, cert: s.relayCert, key: s.relayKey, servername: "localhost" });
  tlsSocket.on("error", () => undefined);
  tcp.on("error", () => undefined);
  await new Promise((r) => tlsSocket.once("secureConnect", r));
  const mark = relay.events.length;
  tlsSocket.write(JSON.stringify({ DestParty: s.dest, Tag: tag }));
  await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag && relay.events.indexOf(e) >= mark);
  return { tcp, tlsSocket };
}

describe("a waiting party whose client goes away is forgotten at once, not at timeouts.pair", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let socket: string;
  before(async () => {
    ({ fx, relay, close } = await suiteRelay({ timeouts: { handshake: "5s", pair: "120s", idle: "0s", drain: "1s" } }));
    socket = path.join(fx.dir, "frelay.sock");
  });
  after(async () => {
    await close();
  });

  const ways: [string, (p: { tcp: net.Socket; tlsSocket: tls.TLSSocket }) => void][] = [
    ["close_notify and FIN (tls end)", (p) => p.tlsSocket.end()],
    ["a bare FIN, no close_notify", (p) => p.tcp.end()],
    ["an RST", (p) => p.tcp.resetAndDestroy()],
  ];
  for (const [how, leave] of ways) {
    it(`${how}: status shows no waiting party well before timeouts.pair`, async () => {
      const p = await waitingParty(fx, relay, `gone-${how.length}`);
      await waitForStatus(socket, (s) => s["waiting"] === 1);
      const t0 = Date.now();
      leave(p);
      await waitForStatus(socket, (s) => s["waiting"] === 0, 10_000);
      assert.ok(Date.now() - t0 < 10_000);
      p.tcp.destroy();
    });
  }
});
