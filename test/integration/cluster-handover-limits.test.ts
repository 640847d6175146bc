import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import type * as tls from "node:tls";
import { connect, type RelayedConnection } from "../../src/client/connect";
import { startNode, type ClusterNodeProc } from "../helpers/cluster";
import { waitForStatus } from "../helpers/control-state";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { rawExchange, refusalFor, waitingRawParty } from "../helpers/raw-party";
import { redisSkip, startRedis, type RunningRedis } from "../helpers/redis";

interface WorkerStatus {
  worker: number;
  connections: number;
  waiting: number;
  active_sessions: number;
}
type Status = { workers: WorkerStatus[]; accept: "reuseport" | "shared" };

/** Per worker: a waiter, another waiter and one party arriving for the first fill a worker of two. */
const MAX_CONNECTIONS = 2;

/**
 * A party connection that moves to a sibling worker is held to limits.max_connections there:
 * the worker that accepted it lets go of it, the one that splices it counts it until it closes
 * (status, metrics and the limit all read that count), and a worker at its limit turns the
 * hand-over down with the 429 a full listener gives, keeping its waiter. Run on both data
 * paths: the native one counts a session's connections in its own way once Node's sockets are gone.
 */
for (const nativeSplice of ["off", "auto"] as const) {
  describe(`start --workers 2 (native_splice ${nativeSplice}): handed-over connections count against the worker that holds them`, { skip: redisSkip(), timeout: 180_000 }, () => {
    let fx: Fixture;
    let redis: RunningRedis;
    let relay: ClusterNodeProc;
    let controlSocket: string;
    const status = async (pred: (s: Status) => boolean = () => true, what = "status") =>
      (await waitForStatus(controlSocket, (s) => pred(s as unknown as Status), 15_000).catch((err: Error) => {
        throw new Error(`${what}: ${err.message}`);
      })) as unknown as Status;
    const waiting = (tag: string) => relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag, 30_000);
    const party = (identity: string, dest: string, tag: string) => connect({ ...fx.party(identity, dest, relay.address, tag), timeoutMs: 30_000 });
    const handedOver = (tag: string, ms: number) => relay.waitFor((e) => e["event"] === "handover" && e["role"] === "owner" && e["tag"] === tag, ms).then(() => true, () => false);
    const allIdle = (s: Status) => s.workers.every((w) => w.connections === 0 && w.waiting === 0 && w.active_sessions === 0);

    /** A waiter and its peer on two workers (see cluster-handover.test.ts: with SO_REUSEPORT the kernel picks, so try again). */
    const pairAcross = async (tag: string): Promise<[RelayedConnection, RelayedConnection, string]> => {
      const accept = (await status()).accept;
      for (let attempt = 0; attempt < 30; attempt++) {
        const t = `${tag}.${attempt}`;
        const first = party("0.user1", "1.user1", t);
        await waiting(t);
        const second = await party("1.user1", "0.user1", t);
        const waiter = await first;
        if (await handedOver(t, accept === "shared" ? 15_000 : 2000)) return [waiter, second, t];
        assert.equal(accept, "reuseport", `pair ${t} was not handed over although the primary gave its parties to two workers`);
        waiter.socket.destroy();
        second.socket.destroy();
        await status(allIdle, "every worker idle again");
      }
      throw new Error(`no pair of ${tag} landed on two workers in 30 tries`);
    };

    before(async () => {
      fx = makeFixture();
      redis = await startRedis();
      relay = await startNode(fx, "hl", redis.url, { timeouts: { handshake: "20s", pair: "30s", idle: "0s", drain: "2s" }, limits: { max_connections: MAX_CONNECTIONS }, native_splice: nativeSplice }, ["--workers", "2"]);
      controlSocket = path.join(path.dirname(relay.configFile), "node-hl.sock");
      await relay.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up" && e["node"] === "hl-2", 20_000);
    });
    after(async () => {
      await relay?.stop();
      await redis?.close();
      fx?.cleanup();
    });

    it("the worker that splices a handed-over pair counts both connections while they live, the one that accepted it none, and both are released at the end", async () => {
      const [waiter, arriving, tag] = await pairAcross("count");
      const closed = relay.waitFor((e) => e["event"] === "closed" && e["tag"] === tag, 60_000);
      try {
        const s = await status((st) => st.workers.some((w) => w.active_sessions === 1), "the session in one worker");
        const owner = s.workers.find((w) => w.active_sessions === 1)!;
        const other = s.workers.find((w) => w !== owner)!;
        // Counted once each: the waiter by the owner's listener, the handed-over party by the owner too.
        await status((st) => st.workers[owner.worker - 1]!.connections === 2 && st.workers[other.worker - 1]!.connections === 0, `session ${tag}: 2 connections on worker ${owner.worker}, 0 on worker ${other.worker}`);
      } finally {
        waiter.socket.destroy();
        arriving.socket.destroy();
      }
      await closed;
      await status(allIdle, "every connection released once the session closed");
    });

    it("a worker at its limit refuses the hand-over with 429; its waiter stays claimable and the other worker keeps serving", async () => {
      // Waiters (each on a tag of its own) until one worker holds two of them: that worker is full.
      const waiters: { sock: tls.TLSSocket; tag: string; worker: number }[] = [];
      let full: number | undefined;
      let seen = (await status()).workers.map((w) => w.waiting);
      for (let i = 0; i < 20 && full === undefined; i++) {
        const tag = `full-w${i}`;
        const sock = await waitingRawParty(fx.party("0.user1", "1.user1", relay.address, tag));
        await waiting(tag);
        const now = (await status((st) => st.workers.reduce((n, w) => n + w.waiting, 0) === waiters.length + 1, `waiter ${tag} counted`)).workers.map((w) => w.waiting);
        const worker = now.findIndex((n, k) => n > seen[k]!) + 1;
        seen = now;
        waiters.push({ sock, tag, worker });
        if (now[worker - 1] === MAX_CONNECTIONS) full = worker;
      }
      assert.ok(full, "no worker got two waiters");
      const [first, second] = waiters.filter((w) => w.worker === full);
      const others = waiters.filter((w) => w.worker !== full).length;
      await status((st) => st.workers[full - 1]!.connections === MAX_CONNECTIONS, `worker ${full} at its limit`);

      // The first waiter's peer, until it lands on the other worker (a full listener refuses it itself).
      let refusal: { Mode: number; Code: number; Error: string } | undefined;
      for (let attempt = 0; attempt < 20; attempt++) {
        const reply = await rawExchange(fx.party("1.user1", "0.user1", relay.address, first!.tag), JSON.stringify({ DestParty: "0.user1", Tag: first!.tag }));
        // Landed on the full worker while an earlier try's refused connection still lingered
        // there: far over its limit, that worker closes at accept without a reply.
        if (reply === "") continue;
        const r = JSON.parse(reply) as { Mode: number; Code: number; Error: string };
        assert.equal(r.Code, 429, `the arriving party must be refused, got ${reply}`);
        if (/^relay is at its connection limit/.test(r.Error)) continue; // it landed on the full worker
        refusal = r;
        break;
      }
      assert.ok(refusal, "no arriving party landed on the other worker in 20 tries");
      assert.match(refusal.Error, new RegExp(`relay worker hl-${full}, where 0\\.user1 waits, is at its connection limit \\(limits\\.max_connections is ${MAX_CONNECTIONS}\\)`));
      await relay.waitFor((e) => e["event"] === "handover_refused" && e["tag"] === first!.tag, 10_000);
      // Nothing held for the refused party anywhere, the full worker's waiters untouched.
      await status(
        (st) => st.workers[full - 1]!.connections === MAX_CONNECTIONS && st.workers[full - 1]!.waiting === 2 && st.workers.every((w) => w.worker === full || w.connections === others),
        "the refused party released, both waiters still there",
      );

      // Room again on the full worker: the first waiter is still claimable (back in Redis) and pairs.
      second!.sock.destroy();
      await status((st) => st.workers[full - 1]!.connections === 1, `worker ${full} below its limit`);
      const mode2 = new Promise<string>((resolve) => first!.sock.once("data", (c: Buffer) => resolve(c.toString())));
      const answer = await refusalFor(fx.party("1.user1", "0.user1", relay.address, first!.tag));
      assert.equal(answer.Mode, 1, `the arriving party is paired: ${JSON.stringify(answer)}`);
      assert.equal(await mode2, '{"Mode":2}');
      for (const w of waiters) w.sock.destroy();
      await status(allIdle, "every connection released");
    });
  });
}
