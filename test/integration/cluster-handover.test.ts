import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { connect, dialRelay } from "../../src/client/connect";
import { runCli } from "../helpers/cli";
import { startNode, type ClusterNodeProc } from "../helpers/cluster";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { redisSkip, startRedis, type RunningRedis } from "../helpers/redis";
import { checkStalledReader } from "../helpers/stalled-reader";
import { readAll, sha256 } from "../helpers/streams";
import { halfCloseExchange } from "../helpers/half-close-exchange";

const MiB = 1024 * 1024;

interface WorkerStatus {
  worker: number;
  pid: number;
  waiting: number;
  active_sessions: number;
  data_path: { path: "native" | "js"; sessions: { native: number; js: number } };
  cluster: { node: string; cross_node_sessions: number; handovers: number; link_errors: number };
}

/**
 * Workers of one `start --workers 2` meet without the node link: the arriving party's TCP
 * connection moves to the waiter's worker over the cluster IPC, which splices the pair as a
 * local one. The primary hands connections to its workers in turn, so a waiter and the party
 * that arrives right after it land on two workers.
 */
describe("start --workers 2: a pair across two workers is handed over, not linked", { skip: redisSkip(), timeout: 240_000 }, () => {
  let fx: Fixture;
  let redis: RunningRedis;
  let relay: ClusterNodeProc;
  const party = (identity: string, dest: string, tag: string, timeoutMs = 30_000) => connect({ ...fx.party(identity, dest, relay.address, tag), timeoutMs });
  const waiting = (tag: string) => relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag, 30_000);
  const closedLines = (tag: string) => relay.events.filter((e) => e["event"] === "closed" && e["tag"] === tag);
  const status = async () => JSON.parse((await runCli(["status", "--json", "-c", relay.configFile])).stdout) as { workers: WorkerStatus[]; accept: "reuseport" | "shared" };
  /** How the workers accept: through the primary in turn, or each on its own SO_REUSEPORT socket. */
  let accept: "reuseport" | "shared";
  const handedOver = (tag: string, ms: number) => relay.waitFor((e) => e["event"] === "handover" && e["role"] === "owner" && e["tag"] === tag, ms).then(() => true, () => false);
  /**
   * A waiter, then its peer, on two workers. Through the primary, connections go to the workers
   * in turn, so the peer always lands on the other worker. With SO_REUSEPORT the kernel picks
   * the worker: a pair that met inside one worker is closed and tried again under a new tag.
   */
  const pairAcross = async (tag: string, [x, y]: [string, string] = ["0.user1", "1.user1"]) => {
    for (let attempt = 0; attempt < 30; attempt++) {
      const t = attempt === 0 ? tag : `${tag}.${attempt}`;
      const first = party(x, y, t);
      await waiting(t);
      const second = await party(y, x, t);
      const waiter = await first;
      if (await handedOver(t, accept === "shared" ? 15_000 : 2000)) return { waiter, arriving: second, tag: t };
      assert.equal(accept, "reuseport", `pair ${t} was not handed over although the primary gave its parties to two workers`);
      waiter.socket.destroy();
      second.socket.destroy();
    }
    throw new Error(`no pair of ${tag} landed on two workers in 30 tries`);
  };

  before(async () => {
    fx = makeFixture();
    redis = await startRedis();
    // The test process does every party's TLS itself on a shared machine: generous timeouts.
    relay = await startNode(fx, "h", redis.url, { timeouts: { handshake: "20s", pair: "8s", idle: "0s", drain: "2s" } }, ["--workers", "2"]);
    await relay.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up" && e["node"] === "h-2", 20_000);
    accept = (await status()).accept;
  });
  after(async () => {
    await relay?.stop();
    await redis?.close();
    fx?.cleanup();
  });

  it("pairs complete with end-to-end TLS and checked bytes; each session is spliced and logged once, by the waiter's worker", async () => {
    const n = 10;
    const tags: string[] = [];
    for (let i = 0; i < n; i++) {
      const { waiter, arriving, tag } = await pairAcross(`ho-${i}`);
      tags.push(tag);
      const d1 = crypto.randomBytes(64 * 1024 + i * 1000);
      const d2 = crypto.randomBytes(16 * 1024 + i * 333);
      const [got1, got2] = [readAll(arriving.socket), readAll(waiter.socket)];
      waiter.socket.end(d1);
      arriving.socket.end(d2);
      assert.equal(sha256(await got1), sha256(d1), `pair ${i}: waiter → arriving`);
      assert.equal(sha256(await got2), sha256(d2), `pair ${i}: arriving → waiter`);
      const closed = await relay.waitFor((e) => e["event"] === "closed" && e["tag"] === tag);
      assert.equal(closed["how"], "done");
      // a is the waiter; the counts include each side's end-to-end TLS records around the data.
      assert.ok(Number(closed["bytes_a_to_b"]) > d1.length && Number(closed["bytes_a_to_b"]) < d1.length + 16 * 1024, `a→b ${String(closed["bytes_a_to_b"])}`);
      assert.ok(Number(closed["bytes_b_to_a"]) > d2.length && Number(closed["bytes_b_to_a"]) < d2.length + 16 * 1024, `b→a ${String(closed["bytes_b_to_a"])}`);
      const owner = relay.events.find((e) => e["event"] === "handover" && e["role"] === "owner" && e["session"] === closed["session"]);
      assert.ok(owner, `session ${String(closed["session"])} was handed over`);
    }
    const st = await status();
    for (const w of st.workers) {
      assert.equal(w.cluster.cross_node_sessions, 0, "no node link between sibling workers");
      assert.ok(w.cluster.handovers >= n, `worker ${w.worker}: ${w.cluster.handovers} hand-overs`);
    }
    assert.equal(relay.events.filter((e) => e["event"] === "cross_node").length, 0);
    // One session line per pair: the arriving party's worker kept no session of its own.
    for (const tag of tags) assert.equal(closedLines(tag).length, 1, tag);
  });

  for (const closer of ["waiter (Mode 2)", "arriving party (Mode 1)"] as const) {
    it(`half-close across the hand-off: after the ${closer} finishes sending, the other side's reply still arrives in full`, async () => {
      const { waiter, arriving, tag } = await pairAcross(`half-${closer[0]}`);
      const [first, second] = closer.startsWith("waiter") ? [waiter, arriving] : [arriving, waiter];
      await halfCloseExchange(first, second);
      const closed = await relay.waitFor((e) => e["event"] === "closed" && e["tag"] === tag);
      assert.equal(closed["how"], "done");
      assert.ok(relay.events.some((e) => e["event"] === "handover" && e["session"] === closed["session"]));
    });
  }

  it("bytes the arriving party sends the moment it has its reply (while its connection moves) reach the waiter whole and in order", async () => {
    const early = crypto.randomBytes(2 * MiB);
    // Sent at once: more than a Node 20 socket's read buffer, less than the 64 KiB the waiter's
    // client accepts behind its reply before it has read the reply. The rest follows later.
    const atOnce = 48 * 1024;
    for (let attempt = 0; attempt < 30; attempt++) {
      const tag = `early-${attempt}`;
      const first = dialRelay({ ...fx.party("0.user1", "1.user1", relay.address, tag), timeoutMs: 30_000 });
      await waiting(tag);
      const arriving = (await dialRelay({ ...fx.party("1.user1", "0.user1", relay.address, tag), timeoutMs: 30_000 })).socket;
      // At once, in the turn its reply completed: the relay is passing the connection on about now.
      arriving.write(early.subarray(0, atOnce));
      const waiter = await first;
      // Not waiting for the write: the bytes drain only as the waiter reads them.
      arriving.write(early.subarray(atOnce));
      try {
        if (!(await handedOver(tag, accept === "shared" ? 15_000 : 2000))) {
          assert.equal(accept, "reuseport", `pair ${tag} was not handed over although the primary gave its parties to two workers`);
          continue;
        }
        assert.equal(waiter.mode, 2);
        const parts: Buffer[] = [waiter.rest];
        let n = waiter.rest.length;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`only ${n} of ${early.length} early bytes reached the waiter within 20s`)), 20_000);
          waiter.socket.on("data", (c: Buffer) => {
            parts.push(c);
            n += c.length;
            if (n >= early.length) {
              clearTimeout(timer);
              resolve();
            }
          });
          waiter.socket.resume();
        });
        const got = Buffer.concat(parts);
        assert.equal(got.length, early.length);
        assert.equal(sha256(got), sha256(early));
        return;
      } finally {
        waiter.socket.destroy();
        arriving.destroy();
      }
    }
    assert.fail("no pair landed on two workers in 30 tries");
  });

  it("a stalled reader holds the writer back across the hand-off (bounded buffering), then gets every byte", async () => {
    const { waiter: reader, arriving: writer } = await pairAcross("stall", ["2.user1", "3.user1"]);
    // Two TCP connections (writer → worker → reader); 4 MiB for the worker's pipes or JS buffers
    // and the parties' own TLS buffers.
    await checkStalledReader(reader.socket, writer.socket, { connections: 2, relayAllowance: 4 * MiB }, async () => {
      // One worker carries the session, on its own data path (native splice(2) where built), as a local pair.
      const busy = (await status()).workers.filter((w) => w.active_sessions > 0);
      assert.equal(busy.length, 1, JSON.stringify(busy));
      assert.equal(busy[0]!.data_path.sessions[busy[0]!.data_path.path], 1, JSON.stringify(busy[0]!.data_path));
    });
  });

  it("a sibling that does not answer the claim: the arriving party is refused in bounded time (408), not left hanging", async () => {
    // Through the primary: the waiter's worker is stopped, and the primary's turn gives the next
    // connection to the other worker. With SO_REUSEPORT the kernel might give it to the stopped
    // worker, so the primary (through which workers talk) is stopped instead, and a pair that
    // meets inside one worker is tried again.
    for (let attempt = 0; attempt < 30; attempt++) {
      const tag = `frozen-${attempt}`;
      const first = party("0.user1", "1.user1", tag).then(() => "paired", (err: Error) => err.message);
      await waiting(tag);
      const owner = (await status()).workers.find((w) => w.waiting === 1);
      assert.ok(owner, "one worker holds the waiter");
      // Stopped, not killed: the worker stays alive in Redis for its heartbeat's lifetime.
      const frozen = accept === "shared" ? owner.pid : relay.proc.pid!;
      process.kill(frozen, "SIGSTOP");
      const t0 = Date.now();
      let outcome: string;
      try {
        outcome = await party("1.user1", "0.user1", tag, 40_000).then(
          (c) => (c.socket.destroy(), "paired"),
          (err: Error) => err.message,
        );
      } finally {
        process.kill(frozen, "SIGCONT");
      }
      if (outcome === "paired" && accept === "reuseport") {
        await first;
        continue;
      }
      assert.match(outcome, /408|did not connect within/);
      assert.ok(Date.now() - t0 < 20_000, `refused after ${Date.now() - t0} ms`);
      assert.ok(relay.events.some((e) => e["event"] === "link_error" && /did not answer a claim/.test(String(e["error"]))), "the unanswered claim is logged");
      // The waiter, once its worker runs again, is refused in time as well.
      assert.match(await first, /408|did not connect within/);
      return;
    }
    assert.fail("no arriving party landed on the other worker in 30 tries");
  });
});
