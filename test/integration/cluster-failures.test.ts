import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { connect, type RelayedConnection } from "../../src/client/connect";
import { startNode, type ClusterNodeProc } from "../helpers/cluster";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { waitingRawParty } from "../helpers/raw-party";
import { redisSkip, startRedis, type RunningRedis } from "../helpers/redis";
import { readAll } from "../helpers/streams";

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("cluster failures: a node killed, Redis stopped and restarted", { skip: redisSkip(), timeout: 240_000 }, () => {
  let fx: Fixture;
  let redis: RunningRedis;
  let a: ClusterNodeProc;
  let b: ClusterNodeProc;
  let c: ClusterNodeProc;
  const party = (identity: string, dest: string, node: ClusterNodeProc, tag: string, timeoutMs = 20_000) =>
    connect({ ...fx.party(identity, dest, node.address, tag), timeoutMs });
  const waitingOn = (node: ClusterNodeProc, tag: string) => node.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag);
  /** A session between a waiter on `w` and a party arriving at `n`. */
  const session = async (w: ClusterNodeProc, n: ClusterNodeProc, tag: string): Promise<[RelayedConnection, RelayedConnection]> => {
    const first = party("0.user1", "1.user1", w, tag);
    await waitingOn(w, tag);
    const second = await party("1.user1", "0.user1", n, tag);
    return [await first, second];
  };
  const echo = async (from: RelayedConnection, to: RelayedConnection, text: string) => {
    const got = new Promise<string>((resolve) => to.socket.once("data", (d: Buffer) => resolve(d.toString())));
    from.socket.write(text);
    assert.equal(await got, text);
  };
  const entries = () =>
    redis
      .cli("--scan", "--pattern", "frelay:q:*")
      .trim()
      .split("\n")
      .filter(Boolean)
      .flatMap((k) => redis.cli("lrange", k, "0", "-1").trim().split("\n").filter(Boolean));

  before(async () => {
    fx = makeFixture();
    redis = await startRedis();
    [a, b, c] = (await Promise.all(["a", "b", "c"].map((n) => startNode(fx, n, redis.url)))) as [ClusterNodeProc, ClusterNodeProc, ClusterNodeProc];
    await Promise.all([a, b, c].map((n) => n.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up")));
  });
  after(async () => {
    await Promise.all([a, b, c].map((n) => n?.stop()));
    await redis?.close();
    fx?.cleanup();
  });

  it("kill -9 of a node: its sessions end, the others go on, and nobody is sent to it once its heartbeat expires", async () => {
    const [onA, onB] = await session(a, b, "k1");
    const [w2, n2] = await session(b, c, "k2");
    const lost = await waitingRawParty(fx.party("2.user1", "3.user1", a.address, "k3"));
    lost.on("error", () => undefined);
    await waitingOn(a, "k3");
    assert.ok(entries().some((e) => e.startsWith("a|")), "a's waiter is in Redis");
    a.proc.kill("SIGKILL");
    // The session with a party on a ends at b (a's kernel closed the link: b's party reads the
    // end of its peer, as if that party had gone), and the b-c session is untouched.
    await readAll(onB.socket).catch(() => undefined);
    onB.socket.destroy();
    await b.waitFor((e) => e["event"] === "closed" && e["tag"] === "k1");
    await echo(w2, n2, "still here after a died");
    await echo(n2, w2, "and back");
    // Within the heartbeat's expiry (3 s), a is no longer a node.
    await until("a's heartbeat key expires", () => redis.cli("exists", "frelay:node:a").trim() === "0", 6000);
    const mark = c.events.length;
    const late = party("3.user1", "2.user1", c, "k3", 6000);
    await c.waitFor((e) => c.events.indexOf(e) >= mark && e["event"] === "waiting" && e["tag"] === "k3");
    assert.ok(!c.events.slice(mark).some((e) => e["event"] === "link_error"), "c did not try to reach a");
    assert.ok(!entries().some((e) => e.startsWith("a|")), "no registration of a outlives it");
    await assert.rejects(late, /408|did not connect within/);
    w2.socket.end();
    n2.socket.end();
    onA.socket.destroy();
  });

  it("Redis stopped and restarted: local pairing goes on, then cross-node pairing resumes", async () => {
    await redis.stop();
    await Promise.all([b, c].map((n) => n.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "down")));
    const [x, y] = await session(b, b, "local-during-outage");
    await echo(x, y, "no Redis needed on one node");
    x.socket.end();
    y.socket.end();
    // A party waiting at b through the outage is registered again once Redis is back.
    const waiter = party("0.user1", "1.user1", b, "across-after");
    await waitingOn(b, "across-after");
    const ups = [b, c].map((n) => {
      const mark = n.events.length;
      return n.waitFor((e) => n.events.indexOf(e) >= mark && e["event"] === "cluster_redis" && e["state"] === "up", 15_000);
    });
    await redis.restart();
    await Promise.all(ups);
    await b.waitFor((e) => e["event"] === "cluster_rejoined");
    const arriving = await party("1.user1", "0.user1", c, "across-after");
    const w = await waiter;
    assert.equal(w.mode, 2);
    assert.equal(arriving.mode, 1);
    await echo(w, arriving, "across nodes again");
    w.socket.end();
    arriving.socket.end();
    const closedB = await b.waitFor((e) => e["event"] === "closed" && e["tag"] === "across-after");
    const closedC = await c.waitFor((e) => e["event"] === "closed" && e["tag"] === "across-after");
    assert.equal(closedB["session"], closedC["session"]);
  });
});
