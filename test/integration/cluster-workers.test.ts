import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { connect } from "../../src/client/connect";
import { reusePortSupported } from "../../src/cluster/workers";
import { runCli } from "../helpers/cli";
import { startNode, type ClusterNodeProc } from "../helpers/cluster";
import { BASE_CONFIG, makeFixture, type Fixture } from "../helpers/fixture";
import { refusalFor } from "../helpers/raw-party";
import { redisSkip, startRedis, type RunningRedis } from "../helpers/redis";
import { readAll } from "../helpers/streams";

interface WorkerStatus { worker: number; pid: number; waiting: number; connections: number; cluster: { node: string; redis: string; cross_node_sessions: number; handovers: number } }

describe("frelay start --workers N: N processes on one address, joined through Redis", { skip: redisSkip(), timeout: 180_000 }, () => {
  let fx: Fixture;
  let redis: RunningRedis;
  let relay: ClusterNodeProc;
  const status = async () => JSON.parse((await runCli(["status", "--json", "-c", relay.configFile])).stdout) as { pid: number; workers: WorkerStatus[]; waiting: number; accept: string };
  before(async () => {
    fx = makeFixture();
    redis = await startRedis();
    relay = await startNode(fx, "w", redis.url, {}, ["--workers", "2"]);
  });
  after(async () => {
    await relay?.stop();
    await redis?.close();
    fx?.cleanup();
  });

  it("status shows every worker, each a node of its own", async () => {
    const st = await status();
    assert.equal(st.pid, relay.proc.pid);
    assert.equal(st.workers.length, 2);
    assert.deepEqual(st.workers.map((w) => w.cluster.node).sort(), ["w-1", "w-2"]);
    assert.notEqual(st.workers[0]!.pid, st.workers[1]!.pid);
    for (const w of st.workers) assert.equal(w.cluster.redis, "up");
    const text = await runCli(["status", "-c", relay.configFile]);
    assert.match(text.stdout, /workers: +2\n +worker 1: pid \d+, node w-1/);
    // Own SO_REUSEPORT sockets where this Node offers them, else one socket through the primary.
    assert.equal(st.accept, reusePortSupported() ? "reuseport" : "shared");
    assert.match(text.stdout, reusePortSupported() ? /accepting: +each accepts on its own socket: SO_REUSEPORT/ : /accepting: +one socket shared through the primary/);
  });

  it("parties on the shared address meet whichever worker took each of them", async () => {
    // Through the primary, connections alternate between the workers, so each pair below crosses;
    // with SO_REUSEPORT the kernel picks, so more pairs are made until one has crossed.
    const crossed = async () => (await status()).workers.every((w) => w.cluster.handovers > 0);
    for (let i = 0; i < 40 && (i < 6 || !(await crossed())); i++) {
      const tag = `w${i}`;
      const first = connect({ ...fx.party("0.user1", "1.user1", relay.address, tag), timeoutMs: 15000 });
      await relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag);
      const second = await connect({ ...fx.party("1.user1", "0.user1", relay.address, tag), timeoutMs: 15000 });
      const a = await first;
      const got = readAll(second.socket);
      a.socket.end(`hello ${i}`);
      assert.equal((await got).toString(), `hello ${i}`);
      second.socket.end();
    }
    const st = await status();
    // The primary hands connections out round-robin: some pairs had their parties in two workers,
    // and met by handing the arriving party's connection over, not over the node link.
    assert.ok(st.workers.every((w) => w.cluster.handovers > 0 && w.cluster.cross_node_sessions === 0), JSON.stringify(st.workers.map((w) => w.cluster)));
  });

  it("reload reaches every worker", async () => {
    const raw = JSON.parse(fs.readFileSync(relay.configFile, "utf8")) as typeof BASE_CONFIG;
    raw.routes = raw.routes.filter((r) => r.between[0] !== "2.user1");
    fs.writeFileSync(relay.configFile, JSON.stringify(raw, null, 2));
    const r = await runCli(["reload", "-c", relay.configFile]);
    assert.equal(r.code, 0, r.stderr);
    // Four attempts land on both workers (round-robin); each refuses the removed route.
    for (let i = 0; i < 4; i++) {
      const refusal = await refusalFor(fx.party("2.user1", "3.user1", relay.address, `gone${i}`));
      assert.equal(refusal.Code, 403);
    }
  });

  it("stop reaches every worker: all processes exit", async () => {
    const pids = (await status()).workers.map((w) => w.pid);
    const code = await relay.stop();
    assert.equal(code, 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `worker ${pid} exited`);
  });

  it("--workers without a cluster section is refused with the fix", async () => {
    const r = await runCli(["start", "--fg", "--workers", "2", "-c", fx.configFile]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--workers 2 needs a cluster section in .*config\.json: workers meet through Redis/);
  });
});
