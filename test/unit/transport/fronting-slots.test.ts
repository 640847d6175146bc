import { after, before, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import { loadConfig } from "../../../src/config/load";
import { buildState } from "../../../src/daemon/state";
import { createLogger } from "../../../src/log/logger";
import { PairingCore } from "../../../src/relay/pairing-core";
import { FrontingListener } from "../../../src/transport/fronting-listener";
import { makeFixture, type Fixture } from "../../helpers/fixture";

/**
 * The fronting listener's per-address slots (connections without a stream yet) count an IPv6
 * front per /64, as the direct listener does. Loopback offers one IPv6 address (::1), so each
 * connection here is a real TCP connection whose peer address is set to the one under test;
 * the listener (its trust check, its slots, its HTTP/2) is the real one.
 * (test/integration/h2-bounds.test.ts covers the IPv4 path end to end.)
 */
let fx: Fixture;
let server: net.Server;
let listener: FrontingListener;
const held: net.Socket[] = [];

before(async () => {
  fx = makeFixture([["0", "user1"], ["1", "user1"]]);
  fx.writeConfig({ fronting: { address: "127.0.0.1:0", trusted_proxies: ["2001:db8::/32"] }, limits: { max_handshakes_per_address: 2 } });
  const state = buildState(loadConfig(fx.configFile));
  const log = createLogger({ level: "error", stdout: false }).logger;
  listener = new FrontingListener(new PairingCore(state.policy, log), () => state.transport, log);
  server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});

after(async () => {
  for (const s of held) s.destroy();
  listener.endpoint.destroyAll();
  await new Promise((r) => server.close(r));
  fx.cleanup();
});

/** A real connection, handed to the listener as if it came from `address`; resolves with its server side. */
async function arriveFrom(address: string): Promise<net.Socket> {
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  client.on("error", () => undefined);
  held.push(client);
  const socket = await accepted;
  Object.defineProperty(socket, "remoteAddress", { value: address });
  listener.accept(socket);
  return socket;
}

it("fronting: IPv6 fronts share per-address slots per /64", { timeout: 20000 }, async () => {
  const first = await arriveFrom("2001:db8:0:1::a");
  const second = await arriveFrom("2001:db8:0:1::b");
  // A third address in the same /64: over limits.max_handshakes_per_address (2), closed at once.
  const third = await arriveFrom("2001:db8:0:1:ffff::c");
  // Another /64 has slots of its own.
  const elsewhere = await arriveFrom("2001:db8:0:2::a");
  assert.equal(first.destroyed, false);
  assert.equal(second.destroyed, false);
  assert.equal(third.destroyed, true, "a third connection from the same /64 was let in");
  assert.equal(elsewhere.destroyed, false);
  // A slot comes back when its connection goes.
  const freed = new Promise((r) => first.once("close", r));
  first.destroy();
  await freed;
  assert.equal((await arriveFrom("2001:db8:0:1::d")).destroyed, false);
});
