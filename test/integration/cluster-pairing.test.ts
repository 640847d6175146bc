import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { connect } from "../../src/client/connect";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { startNode, type ClusterNodeProc } from "../helpers/cluster";
import { redisSkip, startRedis, type RunningRedis } from "../helpers/redis";
import { readAll, sha256 } from "../helpers/streams";

describe("pairing across relay nodes through Redis", { skip: redisSkip(), timeout: 120_000 }, () => {
  let fx: Fixture;
  let redis: RunningRedis;
  let a: ClusterNodeProc;
  let b: ClusterNodeProc;
  before(async () => {
    fx = makeFixture();
    redis = await startRedis();
    [a, b] = await Promise.all([startNode(fx, "a", redis.url), startNode(fx, "b", redis.url)]);
    await Promise.all([a, b].map((n) => n.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up")));
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.close();
    fx?.cleanup();
  });

  it("pairs a waiter on node a with a party arriving at node b, end-to-end TLS, bytes checked both ways", async () => {
    const waiter = connect({ ...fx.party("0.user1", "1.user1", a.address, "x"), timeoutMs: 20000 });
    await a.waitFor((e) => e["event"] === "waiting" && e["tag"] === "x");
    const arriving = await connect({ ...fx.party("1.user1", "0.user1", b.address, "x"), timeoutMs: 20000 });
    const w = await waiter;
    assert.equal(w.mode, 2);
    assert.equal(arriving.mode, 1);
    const d1 = crypto.randomBytes(700_000);
    const d2 = crypto.randomBytes(300_001);
    const got1 = readAll(arriving.socket);
    const got2 = readAll(w.socket);
    w.socket.end(d1);
    arriving.socket.end(d2);
    assert.equal(sha256(await got1), sha256(d1));
    assert.equal(sha256(await got2), sha256(d2));
    const [ca, cb] = await Promise.all([a, b].map((n) => n.waitFor((e) => e["event"] === "closed" && e["tag"] === "x")));
    assert.equal(ca!["session"], cb!["session"], "one session id on both nodes");
    assert.equal(ca!["how"], "done");
    assert.equal(cb!["how"], "done");
  });

  it("a later link between the same two nodes resumes the TLS session: no full handshake per cross-node session", async () => {
    for (const tag of ["r1", "r2"]) {
      const waiter = connect({ ...fx.party("2.user1", "3.user1", a.address, tag), timeoutMs: 20000 });
      await a.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag);
      const arriving = await connect({ ...fx.party("3.user1", "2.user1", b.address, tag), timeoutMs: 20000 });
      const w = await waiter;
      const got = readAll(arriving.socket);
      w.socket.end(`over link ${tag}`);
      assert.equal((await got).toString(), `over link ${tag}`);
      arriving.socket.end();
      await b.waitFor((e) => e["event"] === "closed" && e["tag"] === tag);
    }
    const links = b.events.filter((e) => e["event"] === "cross_node" && e["role"] === "arriving");
    assert.equal(links.at(-1)?.["link_resumed"], true, JSON.stringify(links));
  });
});
