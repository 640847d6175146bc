import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { connect, type RelayedConnection } from "../../src/client/connect";
import { startNode, type ClusterNodeProc } from "../helpers/cluster";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { redisSkip, startRedis, type RunningRedis } from "../helpers/redis";
import { checkStalledReader } from "../helpers/stalled-reader";
import { readAll, sha256 } from "../helpers/streams";
import { halfCloseExchange } from "../helpers/half-close-exchange";

const MiB = 1024 * 1024;
/** The issue asks for 1,000; this 2-core machine is shared, so CI runs fewer (FRELAY_CLUSTER_PAIRS overrides). */
const PAIRS = Number(process.env["FRELAY_CLUSTER_PAIRS"] ?? 200);
const CONCURRENCY = 8;

describe("three relay nodes, one Redis: sessions across nodes", { skip: redisSkip(), timeout: 300_000 }, () => {
  let fx: Fixture;
  let redis: RunningRedis;
  let nodes: ClusterNodeProc[];
  const pick = () => nodes[Math.floor(Math.random() * nodes.length)]!;
  const party = (identity: string, dest: string, node: ClusterNodeProc, tag: string, timeoutMs = 20_000) =>
    connect({ ...fx.party(identity, dest, node.address, tag), timeoutMs });
  const waitingOn = (node: ClusterNodeProc, tag: string) => node.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag);

  before(async () => {
    fx = makeFixture();
    redis = await startRedis();
    // The test process itself does every party's TLS (to the relay and end to end): on a shared
    // 2-core machine its requests can take seconds, so the relay's timeouts are generous here.
    const timeouts = { handshake: "20s", pair: "8s", idle: "0s", drain: "2s" };
    nodes = await Promise.all(["a", "b", "c"].map((n) => startNode(fx, n, redis.url, { timeouts })));
    await Promise.all(nodes.map((n) => n.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up")));
  });
  after(async () => {
    await Promise.all((nodes ?? []).map((n) => n.stop()));
    await redis?.close();
    fx?.cleanup();
  });

  it(`${PAIRS} pairs, each party on a random node in random order, all complete with checked bytes`, async () => {
    let next = 0;
    let crossNode = 0;
    const one = async (i: number) => {
      const tag = `many-${i}`;
      const [x, y] = Math.random() < 0.5 ? (["0.user1", "1.user1"] as const) : (["1.user1", "0.user1"] as const);
      const [nx, ny] = [pick(), pick()];
      if (nx !== ny) crossNode++;
      const first = party(x, y, nx, tag);
      await waitingOn(nx, tag);
      const second = await party(y, x, ny, tag);
      const firstConn = await first;
      const d1 = crypto.randomBytes(4096 + i);
      const d2 = crypto.randomBytes(2048 + i);
      const [got1, got2] = [readAll(second.socket), readAll(firstConn.socket)];
      firstConn.socket.end(d1);
      second.socket.end(d2);
      assert.equal(sha256(await got1), sha256(d1), `pair ${i}`);
      assert.equal(sha256(await got2), sha256(d2), `pair ${i}`);
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < PAIRS) await one(next++);
      }),
    );
    assert.ok(crossNode > PAIRS / 2, `${crossNode} of ${PAIRS} pairs crossed nodes`);
  });

  it("first in, first out per pair key across nodes", async () => {
    const waiters: Promise<RelayedConnection>[] = [];
    for (let i = 0; i < 3; i++) {
      const node = nodes[i]!;
      waiters.push(
        party("2.user1", "3.user1", node, "fifo").then((c) => {
          c.socket.end(`waiter-${i}`);
          return c;
        }),
      );
      await waitingOn(node, "fifo");
    }
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const peer = await party("3.user1", "2.user1", pick(), "fifo");
      order.push((await readAll(peer.socket)).toString());
      peer.socket.end();
    }
    assert.deepEqual(order, ["waiter-0", "waiter-1", "waiter-2"]);
    await Promise.all(waiters);
  });

  it("a race: many arriving parties on different nodes for one waiter, exactly one wins, the others time out with 408", async () => {
    const waiter = party("0.user1", "1.user1", nodes[0]!, "race");
    await waitingOn(nodes[0]!, "race");
    const racers = Array.from({ length: 6 }, (_, i) => party("1.user1", "0.user1", nodes[i % 3]!, "race", 30_000));
    const results = await Promise.allSettled(racers);
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(won.length, 1, "exactly one winner");
    for (const l of lost) assert.match(String(l.reason), /408|did not connect within/);
    const w = await waiter;
    const winner = (won[0] as PromiseFulfilledResult<RelayedConnection>).value;
    const got = readAll(winner.socket);
    w.socket.end("to the winner");
    assert.equal((await got).toString(), "to the winner");
    winner.socket.end();
  });

  for (const closer of ["waiter (Mode 2)", "arriving party (Mode 1)"] as const) {
    it(`half-close across nodes: after the ${closer} finishes sending, the other side's reply still arrives in full`, async () => {
      const tag = `half-${closer[0]}`;
      const w = party("0.user1", "1.user1", nodes[0]!, tag);
      await waitingOn(nodes[0]!, tag);
      const b = await party("1.user1", "0.user1", nodes[1]!, tag);
      const a = await w;
      const [first, second] = closer.startsWith("waiter") ? [a, b] : [b, a];
      await halfCloseExchange(first, second);
      const [ca, cb] = await Promise.all([nodes[0]!, nodes[1]!].map((n) => n.waitFor((e) => e["event"] === "closed" && e["tag"] === tag)));
      assert.equal(ca!["how"], "done");
      assert.equal(cb!["how"], "done");
      assert.equal(ca!["session"], cb!["session"]);
      // Both nodes count the same bytes (the end-to-end TLS records included).
      assert.equal(ca!["bytes_a_to_b"], cb!["bytes_a_to_b"]);
      assert.equal(ca!["bytes_b_to_a"], cb!["bytes_b_to_a"]);
    });
  }

  it("a stalled reader across nodes holds the writer back (bounded buffering), then gets every byte", async () => {
    const w = party("2.user1", "3.user1", nodes[1]!, "stall");
    await waitingOn(nodes[1]!, "stall");
    const writer = await party("3.user1", "2.user1", nodes[2]!, "stall");
    const reader = await w;
    // Three TCP connections (writer → node 2 → link → node 1 → reader); 8 MiB for both nodes'
    // buffers and the link's TLS.
    await checkStalledReader(reader.socket, writer.socket, { connections: 3, relayAllowance: 8 * MiB });
  });
});
