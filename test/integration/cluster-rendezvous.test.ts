import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { connect } from "../../src/client/connect";
import { freePort, runCli } from "../helpers/cli";
import { startNode, type ClusterNodeProc } from "../helpers/cluster";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { waitingRawParty } from "../helpers/raw-party";
import { redisSkip, startRedis, startRedisAt, type RunningRedis } from "../helpers/redis";
import { readAll } from "../helpers/streams";

/** Every queue key in Redis with its entries and remaining time to live. */
function queues(redis: RunningRedis): { key: string; entries: string[]; pttl: number }[] {
  const keys = redis.cli("--scan", "--pattern", "frelay:q:*").trim().split("\n").filter(Boolean);
  return keys.map((key) => ({ key, entries: redis.cli("lrange", key, "0", "-1").trim().split("\n").filter(Boolean), pttl: Number(redis.cli("pttl", key).trim()) }));
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("one node's rendezvous in Redis", { skip: redisSkip(), timeout: 120_000 }, () => {
  let fx: Fixture;
  let redis: RunningRedis;
  let node: ClusterNodeProc;
  before(async () => {
    fx = makeFixture();
    redis = await startRedis();
    node = await startNode(fx, "solo", redis.url);
    await node.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up");
  });
  after(async () => {
    await node?.stop();
    await redis?.close();
    fx?.cleanup();
  });

  it("announces the node with a heartbeat key that expires within 3 s", () => {
    const value = redis.cli("get", "frelay:node:solo").trim();
    assert.match(value, new RegExp(`^[0-9a-f]{8}\\|${node.peerAddress.replace(/\./g, "\\.")}$`));
    const pttl = Number(redis.cli("pttl", "frelay:node:solo").trim());
    assert.ok(pttl > 0 && pttl <= 3000, `pttl ${pttl}`);
  });

  it("registers a waiter under its pair key (identities in canonical order, tag) with its node and an expiry, and forgets it when it leaves", async () => {
    const sock = await waitingRawParty(fx.party("1.user1", "0.user1", node.address, "reg"));
    await node.waitFor((e) => e["event"] === "waiting" && e["tag"] === "reg");
    const [q] = queues(redis).filter((x) => x.key.includes('"reg"'));
    assert.ok(q, "a queue for the pair");
    assert.equal(q.key, 'frelay:q:{["0.user1","1.user1","reg"]}:1.user1');
    assert.equal(q.entries.length, 1);
    assert.match(q.entries[0]!, /^solo\|[0-9a-f]{8}\|\w+$/);
    // timeouts.pair is 3 s in the fixture; the queue lives that long plus a little slack.
    assert.ok(q.pttl > 0 && q.pttl <= 3000 + 5000, `pttl ${q.pttl}`);
    sock.destroy();
    await until("the entry is withdrawn", () => queues(redis).filter((x) => x.key.includes('"reg"')).every((x) => x.entries.length === 0));
  });

  it("pairs its own parties through Redis, first in first out", async () => {
    // Each waiter is registered before the next one dials: started together, their handshakes
    // may finish in any order, and FIFO is about the order they began to wait.
    const waiters: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      waiters.push(
        connect({ ...fx.party("0.user1", "1.user1", node.address, "fifo"), timeoutMs: 15000 }).then((c) => {
          c.socket.end(`waiter-${i}`);
          return c;
        }),
      );
      await node.waitFor(() => node.events.filter((x) => x["event"] === "waiting" && x["tag"] === "fifo").length > i);
    }
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const peer = await connect({ ...fx.party("1.user1", "0.user1", node.address, "fifo"), timeoutMs: 15000 });
      order.push((await readAll(peer.socket)).toString());
      peer.socket.end();
    }
    assert.deepEqual(order, ["waiter-0", "waiter-1", "waiter-2"]);
    await Promise.all(waiters);
    assert.equal(queues(redis).filter((x) => x.key.includes('"fifo"') && x.entries.length > 0).length, 0);
  });

  it("a waiter that times out leaves Redis too, and gets 408", async () => {
    const sock = await waitingRawParty(fx.party("2.user1", "3.user1", node.address, "late"));
    const reply = readAll(sock);
    const refused = await node.waitFor((e) => e["event"] === "refused" && e["tag"] === "late", 8000);
    assert.equal(refused["code"], 408);
    await reply.catch(() => undefined);
    await until("the entry is withdrawn", () => queues(redis).filter((x) => x.key.includes('"late"')).every((x) => x.entries.length === 0));
  });
});

describe("a node whose Redis is unreachable", { skip: redisSkip(), timeout: 120_000 }, () => {
  let fx: Fixture;
  let node: ClusterNodeProc;
  let redis: RunningRedis | undefined;
  let port: number;
  before(async () => {
    fx = makeFixture();
    port = await freePort();
    node = await startNode(fx, "lonely", `redis://127.0.0.1:${port}/0`);
  });
  after(async () => {
    await node?.stop();
    await redis?.close();
    fx?.cleanup();
  });

  it("starts anyway, says so in its log and status, and pairs its own parties", async () => {
    const down = await node.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "down");
    assert.match(String(down["message"]), /pairing this node's own parties only/);
    // frelay start says it once, on the terminal it was started from (stderr, just before "listening on").
    await until("start's report reaches stderr", () => node.stderr().includes("frelay: listening on"));
    assert.match(node.stderr(), new RegExp(`^frelay: warning: cluster\\.redis redis://127\\.0\\.0\\.1:${port}/0 cannot be reached: this node pairs only its own parties until Redis answers`, "m"));
    const st = await runCli(["status", "-c", node.configFile]);
    assert.match(st.stdout, /Redis DOWN \(pairing local parties only\)/);
    const first = connect({ ...fx.party("0.user1", "1.user1", node.address, "local"), timeoutMs: 15000 });
    await node.waitFor((e) => e["event"] === "waiting" && e["tag"] === "local");
    const second = await connect({ ...fx.party("1.user1", "0.user1", node.address, "local"), timeoutMs: 15000 });
    const a = await first;
    const got = readAll(second.socket);
    a.socket.end("hello over a lonely node");
    assert.equal((await got).toString(), "hello over a lonely node");
    second.socket.end();
  });

  it("rejoins when Redis comes up: its waiting parties are registered there", async () => {
    const sock = await waitingRawParty(fx.party("2.user1", "3.user1", node.address, "rejoin"));
    await node.waitFor((e) => e["event"] === "waiting" && e["tag"] === "rejoin");
    redis = await startRedisAt(port);
    await node.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up", 10_000);
    await until("the waiter is registered", () => queues(redis!).some((q) => q.key.includes('"rejoin"') && q.entries.length === 1));
    const st = JSON.parse((await runCli(["status", "--json", "-c", node.configFile])).stdout) as { cluster: { redis: string } };
    assert.equal(st.cluster.redis, "up");
    sock.destroy();
  });
});

