/**
 * The scale-out section of `npm run bench` (`--only=cluster`): a real redis-server on a free
 * loopback port, relay processes started as an operator would, and the same load generator as
 * the rest of the bench (this process). Measures, in one run:
 *   - mTLS handshakes/s and completed pairs/s: one plain process against `start --workers 2`;
 *   - pairing latency (second party's request → reply) with both parties on one node and with
 *     the parties on two nodes, beside a plain process without a cluster;
 *   - one pair's throughput on one node and across two nodes (the node link);
 *   - rendezvous operations per second one Redis answers (the meet script, as nodes run it).
 * Every party, relay and Redis share this machine's cores; the figures say so in their labels.
 */
import { spawnSync } from "node:child_process";
import { hasTool } from "../test/helpers/require-tool";
import * as os from "node:os";
import { createNodeCert } from "../src/pki/operations";
import { startNode, type ClusterNodeProc } from "../test/helpers/cluster";
import { BASE_CONFIG, makeFixture, type Fixture } from "../test/helpers/fixture";
import { startRedis, type RunningRedis } from "../test/helpers/redis";
import type { Logger } from "../src/log/logger";
import { LEAN_ROUTE, leanHandshakes, leanPairs, leanParties, startDaemon } from "./cluster-load";
import { relayPair, startBenchRelay, type BenchRelay, type RawPair } from "./frelay";
import { pumpApart } from "./loadgen";
import { cpuBetween, cpuSnapshot } from "./procstat";
import type { Row } from "./report";
import { MiB, median, mibPerSec, percentile, sleep } from "./stats";

export interface ClusterParams {
  /** Meet scripts redis-benchmark sends. */
  redisBenchOps: number;
  /** Alternating rounds of one process against --workers 2 (medians over them). */
  rounds: number;
  handshakeMs: number;
  pairsMs: number;
  pairings: number;
  throughputMiB: number;
  throughputRuns: number;
  redisMs: number;
}

export const CLUSTER_QUICK: ClusterParams = { redisBenchOps: 20_000, rounds: 1, handshakeMs: 1000, pairsMs: 1000, pairings: 20, throughputMiB: 32, throughputRuns: 1, redisMs: 1000 };
export const CLUSTER_FULL: ClusterParams = { redisBenchOps: 200_000, rounds: 3, handshakeMs: 4000, pairsMs: 4000, pairings: 300, throughputMiB: 512, throughputRuns: 3, redisMs: 5000 };

/** Relay settings for load: generous timeouts and limits (the generator dials from one address). */
const LOAD_CONFIG = {
  timeouts: { handshake: "30s", pair: "120s", idle: "0s", drain: "1s" },
  limits: { max_connections: 100_000, max_waiting_per_identity: 100_000, max_handshakes_per_address: 100_000 },
};

/** A cluster node (or a primary with its workers) seen as a bench relay: parties 0 → 1 and 1 → 0 at `address`. */
function asBench(fx: Fixture, node: ClusterNodeProc, bAddress = node.address): BenchRelay {
  return {
    fx,
    relay: node,
    pid: node.proc.pid!,
    a: fx.party("0.user1", "1.user1", node.address),
    b: fx.party("1.user1", "0.user1", bAddress),
    stop: async () => void (await node.stop()),
  };
}

/** One sample of a rate, with who was busy meanwhile: the relay (all its processes), the generator, Redis. */
interface RateSample {
  perSec: number;
  failed: number;
  relayCores: number;
  generatorCores: number;
  redisCores: number;
}

async function measureRate(relayPid: number, redisPid: number | undefined, run: () => Promise<{ perSec: number; failed: number }>): Promise<RateSample> {
  const relay0 = cpuSnapshot(relayPid);
  const redis0 = redisPid ? cpuSnapshot(redisPid) : undefined;
  const gen0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await run();
  const wall = (performance.now() - t0) / 1000;
  const gen = process.cpuUsage(gen0);
  return {
    ...r,
    relayCores: cpuBetween(relay0, cpuSnapshot(relayPid)) / wall,
    generatorCores: (gen.user + gen.system) / 1e6 / wall,
    redisCores: redis0 && redisPid ? cpuBetween(redis0, cpuSnapshot(redisPid)) / wall : 0,
  };
}

/** Medians of each field over the samples. */
function medianSample(xs: RateSample[]): RateSample {
  const m = (k: keyof RateSample) => median(xs.map((x) => x[k]));
  return { perSec: m("perSec"), failed: xs.reduce((n, x) => n + x.failed, 0), relayCores: m("relayCores"), generatorCores: m("generatorCores"), redisCores: m("redisCores") };
}

/** Who was busy: a relay that used well under its processes' cores was not the limit. */
const cores = (s: RateSample) => `cores busy: relay ${s.relayCores.toFixed(2)}, generator ${s.generatorCores.toFixed(2)}${s.redisCores ? `, redis ${s.redisCores.toFixed(2)}` : ""}; ${(s.perSec / s.relayCores).toFixed(0)}/s per relay core`;

/**
 * One plain process (no cluster section) against `start --workers 2`, both started as the daemon,
 * measured with the lean generator (cluster-load.ts) in alternating rounds: handshakes/s and
 * pairs/s, medians over the rounds, and the CPU each side used.
 */
export async function workersAgainstOne(fx: Fixture, redis: RunningRedis, P: ClusterParams): Promise<{ results: Record<string, unknown>; rows: Row[] }> {
  const parties = leanParties(fx);
  const config = { ...BASE_CONFIG, ...LOAD_CONFIG, routes: [...BASE_CONFIG.routes, LEAN_ROUTE] };
  createNodeCert(fx.certsDir, "w", 2048, false);
  const one = await startDaemon(fx, "one", config);
  const two = await startDaemon(fx, "two", { ...config, cluster: { redis: redis.url, node: "w", peer_address: "127.0.0.1:0" } }, ["--workers", "2"]);
  const load0 = os.loadavg();
  const samples = { hs1: [] as RateSample[], hs2: [] as RateSample[], pr1: [] as RateSample[], pr2: [] as RateSample[] };
  try {
    for (let r = 0; r < P.rounds; r++) {
      samples.hs1.push(await measureRate(one.pid, undefined, () => leanHandshakes(one.port, parties, 16, P.handshakeMs)));
      samples.hs2.push(await measureRate(two.pid, redis.pid(), () => leanHandshakes(two.port, parties, 16, P.handshakeMs)));
      samples.pr1.push(await measureRate(one.pid, undefined, () => leanPairs(one.port, parties, 16, P.pairsMs)));
      samples.pr2.push(await measureRate(two.pid, redis.pid(), () => leanPairs(two.port, parties, 16, P.pairsMs)));
    }
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
  const load1 = os.loadavg();
  const [hs1, hs2, pr1, pr2] = [medianSample(samples.hs1), medianSample(samples.hs2), medianSample(samples.pr1), medianSample(samples.pr2)];
  const rows: Row[] = [
    { metric: `mTLS handshakes/s, 1 process (${cores(hs1)})`, frelay: hs1.perSec },
    { metric: `mTLS handshakes/s, --workers 2 (${cores(hs2)})`, frelay: hs2.perSec, target: "≥ 1.7× one process", met: hs2.perSec >= 1.7 * hs1.perSec },
    { metric: `pairs/s completed, 1 process (${cores(pr1)})`, frelay: pr1.perSec },
    { metric: `pairs/s completed, --workers 2 (${cores(pr2)})`, frelay: pr2.perSec, target: "≥ 1.7× one process", met: pr2.perSec >= 1.7 * pr1.perSec },
  ];
  console.log(`workers against one process: ${P.rounds} alternating rounds, medians; parties ECDSA P-256, relay RSA-2048; load average before ${load0.map((l) => l.toFixed(2)).join(" ")}, after ${load1.map((l) => l.toFixed(2)).join(" ")}`);
  return { results: { handshakes: { one: hs1, two: hs2, ratio: hs2.perSec / hs1.perSec }, pairs: { one: pr1, two: pr2, ratio: pr2.perSec / pr1.perSec }, rounds: P.rounds, loadavg: { before: load0, after: load1 }, samples }, rows };
}

/** Request → reply of the second party, once the first is logged waiting at `waitingAt`. */
async function pairingLatency(br: BenchRelay, waitingAt: ClusterNodeProc | BenchRelay["relay"], n: number, prefix: string): Promise<{ p50: number; p99: number; samples: number }> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const tag = `${prefix}${i}`;
    const p: RawPair = await relayPair(br, tag, () => waitingAt.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag, 30_000));
    if (p.secondGotMode1) lat.push(p.latencyMs);
    p.close();
  }
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), samples: lat.length };
}

async function onePairMibps(br: BenchRelay, mib: number, runs: number, prefix: string): Promise<number> {
  const out: number[] = [];
  for (let r = 0; r < runs; r++) {
    const p = await relayPair(br, `${prefix}${r}`);
    const ms = await pumpApart([p], mib * MiB);
    p.close();
    out.push(mibPerSec(mib * MiB, ms));
    await sleep(100);
  }
  return median(out);
}

const quiet: Logger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined, child: () => quiet };

/**
 * Rendezvous operations one Redis answers: `concurrency` loops, each queueing a waiter and
 * claiming it (two meet scripts, as two nodes would run them). One client process drives it, so
 * this is a floor; Redis's own CPU is reported beside it.
 */
async function redisOps(redis: RunningRedis, ms: number, concurrency = 64): Promise<{ opsPerSec: number; redisCores: number }> {
  const { RedisStore } = await import("../src/cluster/redis-store");
  const store = new RedisStore(redis.url, "bench", "127.0.0.1:1", quiet);
  await store.start();
  try {
    const pid = redis.pid();
    const before = pid ? cpuSnapshot(pid) : undefined;
    const until = performance.now() + ms;
    const t0 = performance.now();
    let ops = 0;
    let tag = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const t = `r${tag++}`;
          if (await store.meet(store.queues("0.user1", "1.user1", t), store.entryOf(t), 30_000)) throw new Error("a fresh tag had a waiter");
          if (!(await store.meet(store.queues("1.user1", "0.user1", t), "", 30_000))) throw new Error("the waiter was not claimed");
          ops += 2;
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    return { opsPerSec: ops / wall, redisCores: before && pid ? cpuBetween(before, cpuSnapshot(pid)) / wall : NaN };
  } finally {
    await store.stop();
  }
}

/**
 * What one Redis carries, without a Node client in the way: redis-benchmark (Debian's
 * redis-tools, beside redis-server) sends the meet script itself from 32 connections, on random
 * pair keys (each call claims a waiter if the key has one, else queues its own entry), against a
 * plain SET for scale. Undefined when redis-benchmark is not installed.
 */
async function redisBenchmark(redis: RunningRedis, ops: number): Promise<{ meetPerSec: number; setPerSec: number } | undefined> {
  if (!hasTool("redis-benchmark")) return undefined;
  const { MEET_LUA } = await import("../src/cluster/redis-store");
  const sha = redis.cli("script", "load", MEET_LUA).trim();
  redis.cli("set", "frelay:node:bench", "0|127.0.0.1:1");
  const rps = (...cmd: string[]): number => {
    const r = spawnSync("redis-benchmark", ["-p", String(redis.port), "-n", String(ops), "-c", "32", "-r", "100000", "--csv", ...cmd], { encoding: "utf8", timeout: 120_000 });
    // --csv: a header line, then "<command>","<requests per second>",...
    const line = r.stdout.trim().split("\n").at(-1) ?? "";
    return Number(line.split(",")[1]?.replace(/"/g, ""));
  };
  const meetPerSec = rps("evalsha", sha, "2", "frelay:q:{__rand_int__}:a", "frelay:q:{__rand_int__}:b", "bench|0|__rand_int__", "frelay:node:", "30000");
  const setPerSec = rps("set", "bench:__rand_int__", "x");
  return { meetPerSec, setPerSec };
}

/** Runs the section; returns its results and table rows (none, with the reason, when redis-server is missing). */
export async function clusterBench(P: ClusterParams): Promise<{ results: Record<string, unknown>; rows: Row[] } | { skipped: string }> {
  if (!hasTool("redis-server") || !hasTool("redis-cli")) return { skipped: "redis-server is not installed (apt-get install redis-server)" };
  const redis = await startRedis();
  const fx = makeFixture();
  const started: { stop(): Promise<unknown> }[] = [];
  const results: Record<string, unknown> = {};
  const rows: Row[] = [];
  try {
    const w = await workersAgainstOne(fx, redis, P);
    results["workers"] = w.results;
    rows.push(...w.rows);
    // Beside the nodes below: a plain process, for pairing latency without a cluster.
    const single = await startBenchRelay(LOAD_CONFIG);
    started.push(single);

    // Two nodes: same-node against cross-node pairing and throughput, the plain process beside them.
    const [na, nb] = await Promise.all(["a", "b"].map((n) => startNode(fx, n, redis.url, { ...LOAD_CONFIG, log: { file: `node-${n}.log`, level: "info" } })));
    started.push(na!, nb!);
    await Promise.all([na!, nb!].map((n) => n.waitFor((e) => e["event"] === "cluster_redis" && e["state"] === "up", 15_000)));
    const same = asBench(fx, na!);
    const cross = asBench(fx, na!, nb!.address);
    const latPlain = await pairingLatency(single, single.relay, P.pairings, "lp");
    const latSame = await pairingLatency(same, na!, P.pairings, "ls");
    const latCross = await pairingLatency(cross, na!, P.pairings, "lx");
    results["pairing_ms"] = { plain: latPlain, sameNode: latSame, crossNode: latCross };
    rows.push({ metric: `pairing p50 ms: same node (no cluster: ${latPlain.p50.toFixed(2)})`, frelay: latSame.p50, lowerIsBetter: true });
    rows.push({ metric: `pairing p99 ms: same node (no cluster: ${latPlain.p99.toFixed(2)})`, frelay: latSame.p99, lowerIsBetter: true });
    rows.push({ metric: "pairing p50 ms: cross node", frelay: latCross.p50, lowerIsBetter: true });
    rows.push({ metric: "pairing p99 ms: cross node", frelay: latCross.p99, lowerIsBetter: true });
    const tpSame = await onePairMibps(same, P.throughputMiB, P.throughputRuns, "ts");
    const tpCross = await onePairMibps(cross, P.throughputMiB, P.throughputRuns, "tx");
    results["one_pair_mibps"] = { sameNode: tpSame, crossNode: tpCross, mib: P.throughputMiB, runs: P.throughputRuns };
    rows.push({ metric: `1 pair, ${P.throughputMiB} MiB: same node (MiB/s)`, frelay: tpSame });
    rows.push({ metric: `1 pair, ${P.throughputMiB} MiB: cross node over the link (MiB/s)`, frelay: tpCross });

    const ops = await redisOps(redis, P.redisMs);
    const rb = await redisBenchmark(redis, P.redisBenchOps);
    results["redis"] = { ...ops, ...(rb ? { redisBenchmark: rb } : {}) };
    rows.push({ metric: `Redis meet scripts/s from one Node client, as nodes send them (redis-server cores busy ${ops.redisCores.toFixed(2)})`, frelay: ops.opsPerSec });
    if (rb) rows.push({ metric: `Redis meet scripts/s, redis-benchmark -c 32 (plain SET: ${rb.setPerSec.toFixed(0)}/s)`, frelay: rb.meetPerSec });
    else console.log("skipped redis-benchmark: it is not installed (Debian: redis-tools)");
    return { results, rows };
  } finally {
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    await redis.close();
    fx.cleanup();
  }
}
