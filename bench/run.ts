/**
 * npm run bench [-- --quick]: frelay (as installed, and forced onto its JavaScript data path)
 * against socat tuned (-b 65536, nodelay: the reference) and socat's defaults, in the same run, on
 * loopback, with one load generator (a sender and a receiver process, see loadgen.ts) whose own
 * ceiling is measured over a direct TCP connection. Prints a table of medians and frelay/socat ratios and writes
 * bench/results.json. The machine is shared and noisy: ratios within one run are what count.
 * Nothing here fails on a figure; --quick (CI) only proves the harness still runs.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "../test/helpers/cli";
import { missing } from "../test/helpers/fronts";
import { sample, scrapeMetrics } from "../test/helpers/metrics";
import { startNginxH2 } from "../test/helpers/nginx";
import { canPumpApart, pump, pumpApart, Sink, type BytePair } from "./loadgen";
import { canRaiseHardLimits, cpuBetween, cpuSnapshot, openFileLimits, openFiles, raiseOpenFiles, rssKb } from "./procstat";
import type { DeadPair } from "./hold";
import { relayPair, relayPairH2, startBenchRelay, type BenchRelay, type RawPair } from "./frelay";
import { handshakeRate, opensslServerRate, sessionSetup, startInitRelay, type SessionFigures } from "./sessions";
import type { KeyType } from "../src/pki/certs";
import { h2ConnectionMemory } from "./h2-memory";
import { ensureSocat, startSocat } from "./socat";
import { MiB, median, mibPerSec, percentile, sleep } from "./stats";
import { printTable, type Row } from "./report";
import { CLUSTER_FULL, CLUSTER_QUICK, clusterBench } from "./cluster";

const quick = process.argv.includes("--quick");
const P = quick
  ? { singleMiB: 64, runs: 3, aggMiB: 128, aggRuns: 1, pairings: 100, handshakeMs: 1000, h2MiB: 32, h2Runs: 1, idlePairs: 500, socatIdle: 20, sessions: 60, sessionRuns: 1 }
  : { singleMiB: 512, runs: 5, aggMiB: 1024, aggRuns: 3, pairings: 500, handshakeMs: 5000, h2MiB: 256, h2Runs: 3, idlePairs: 10_000, socatIdle: 200, sessions: 300, sessionRuns: 3 };
const OPEN_FILES = 200_000;
/** --only=single,pairs,latency,handshakes,h2,h2mem,cluster,idle runs just those sections (for profiling). */
const only = process.argv.find((a) => a.startsWith("--only="))?.slice(7).split(",");
const want = (section: string) => !only || only.includes(section);
if (process.argv.includes("--idle-pairs")) P.idlePairs = Number(process.argv[process.argv.indexOf("--idle-pairs") + 1]);

/** frelay: as installed (native splice(2) where built); frelayJs: forced onto the JS path; socat: tuned (the reference). */
type Path = "direct" | "socatDefault" | "socat" | "frelay" | "frelayJs";
const PATHS: Path[] = ["direct", "socatDefault", "socat", "frelay", "frelayJs"];
type PairMaker = () => Promise<BytePair & { close(): void }>;

interface Measured {
  mibps: number;
  /** CPU seconds per GB (10^9 bytes) of the relay process (tree, for socat). */
  cpuPerGB?: number;
}

/** `count` pairs, `totalBytes` split among them, one way; the relay's CPU measured around it. */
async function throughput(make: PairMaker, count: number, totalBytes: number, relayPid?: number): Promise<Measured> {
  const pairs: (BytePair & { close(): void })[] = [];
  for (let i = 0; i < count; i++) pairs.push(await make());
  const before = relayPid ? cpuSnapshot(relayPid) : undefined;
  let after: Map<number, number> | undefined;
  const counted = () => (after = relayPid ? cpuSnapshot(relayPid) : undefined);
  // Plain TCP pairs go to the sender and receiver processes; HTTP/2 streams stay here.
  const bytesEach = Math.floor(totalBytes / count);
  let ms: number;
  if (canPumpApart(pairs)) ms = await pumpApart(pairs, bytesEach, counted);
  else {
    ms = await pump(pairs, bytesEach);
    counted();
  }
  const cpu = before && after ? cpuBetween(before, after) : undefined;
  for (const p of pairs) p.close();
  await sleep(100);
  return { mibps: mibPerSec(totalBytes, ms), ...(cpu !== undefined ? { cpuPerGB: cpu / (totalBytes / 1e9) } : {}) };
}

/** Median figures over `runs`, the paths interleaved so drift on a shared machine hits all alike. */
async function compare(makers: Record<Path, PairMaker>, pids: Partial<Record<Path, number>>, count: number, totalBytes: number, runs: number): Promise<Record<Path, { mibps: number; cpuPerGB?: number }>> {
  const samples: Record<Path, Measured[]> = { direct: [], socatDefault: [], socat: [], frelay: [], frelayJs: [] };
  for (let r = 0; r < runs; r++) {
    for (const p of PATHS) samples[p].push(await throughput(makers[p], count, totalBytes, pids[p]));
  }
  const out = {} as Record<Path, { mibps: number; cpuPerGB?: number }>;
  for (const p of PATHS) {
    const cpu = samples[p].map((m) => m.cpuPerGB).filter((x): x is number => x !== undefined);
    out[p] = { mibps: median(samples[p].map((m) => m.mibps)), ...(cpu.length ? { cpuPerGB: median(cpu) } : {}) };
  }
  return out;
}

async function pairingLatency(br: BenchRelay, n: number): Promise<{ p50: number; p90: number; p99: number; samples: number }> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const tag = `lat${i}`;
    const p: RawPair = await relayPair(br, tag, () => br.relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag));
    if (p.secondGotMode1) lat.push(p.latencyMs); // the second party really arrived second
    p.close();
  }
  return { p50: percentile(lat, 50), p90: percentile(lat, 90), p99: percentile(lat, 99), samples: lat.length };
}

/**
 * Session set-up against the relay as `frelay init` configures it (see sessions.ts), for one key
 * type: medians over `runs` runs of `n` sessions each, its handshake rates (full, resumed), and
 * the same sessions against the floor relay (floor-relay.ts) for reference.
 */
async function setupCosts(keyType: KeyType, n: number, runs: number, handshakeMs: number) {
  const br = await startInitRelay({ keyType });
  try {
    const sessions = await sessionRuns(br, n, runs);
    const full = await handshakeRate(br, 4, handshakeMs, false);
    const resumed = await handshakeRate(br, 4, handshakeMs, true);
    const openssl = await opensslServerRate(br, 4, handshakeMs);
    return { ...sessions, full, resumed, openssl, floor: await floorCosts(keyType, n, runs) };
  } finally {
    await br.stop();
  }
}

/** Medians over `runs` runs of `n` sessions each. */
async function sessionRuns(br: Awaited<ReturnType<typeof startInitRelay>>, n: number, runs: number) {
  const s: SessionFigures[] = [];
  for (let r = 0; r < runs; r++) s.push(await sessionSetup(br, n, r === 0 ? Math.min(50, n) : 10));
  const pick = (k: keyof SessionFigures) => median(s.map((x) => x[k]));
  return { sessions: n, runs, cpuMs: pick("cpuMs"), p50: pick("p50"), p90: pick("p90"), p99: pick("p99") };
}

/** The same sessions against the floor relay (floor-relay.ts): the least Node's TLS costs here. */
async function floorCosts(keyType: KeyType, n: number, runs: number) {
  const floor = await startInitRelay({ keyType, floor: true });
  try {
    return await sessionRuns(floor, n, runs);
  } finally {
    await floor.stop();
  }
}

/** An idle pair that stopped carrying bytes, told in one line with what the relay says about it. */
class DeadPairError extends Error {}

/** Descriptors the relay may need beside its pairs' while they are made (a hand-off's dup, a metrics scrape, its fd count). */
const RELAY_FD_MARGIN = 16;
/** Pairs per holder process, at most: two descriptors each, within a common 20,000 limit with room to spare. */
const PAIRS_PER_HOLDER = 4000;

/**
 * Idle paired connections held open by holder processes: relay RSS slope from half to all of
 * them, then bytes both ways on every 100th pair. The relay needs two descriptors per pair, so
 * its open-file limit caps the count: the bench raises it as far as it may (the hard limit, or
 * beyond with CAP_SYS_RESOURCE) and holds as many pairs as then fit.
 */
async function idleMemory(wanted: number): Promise<{ kbPerPair: number; heapBytesPerPair: number; rssMiB: number; established: number; errors: number; firstError?: string; cappedBy?: string }> {
  // Metrics on, for the V8 heap in use beside RSS (what JavaScript objects each session keeps).
  const metricsPort = await freePort();
  const br = await startBenchRelay({ metrics: { address: `127.0.0.1:${metricsPort}` } }, OPEN_FILES);
  const heapUsed = async () => sample(await scrapeMetrics(metricsPort), "frelay_process_nodejs_heap_size_used_bytes");
  const heapPoints: number[] = [];
  const relayFiles = openFileLimits(br.pid)?.soft ?? 1024;
  const holderFiles = openFileLimits("self")?.soft ?? 1024; // the holders inherit this process's
  const perHolder = Math.max(1, Math.min(PAIRS_PER_HOLDER, Math.floor((holderFiles - 64) / 2)));
  const holders: ChildProcess[] = [];
  let cappedBy: string | undefined;
  let pairs = 0;
  let errors = 0;
  let firstError: string | undefined;
  const points: number[] = [];
  const order = (h: ChildProcess, msg: unknown) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      h.once("message", (m) => resolve(m as Record<string, unknown>));
      h.once("exit", (code) => reject(new Error(`pair holder exited with ${code}`)));
      h.send(msg as object);
    });
  try {
    await sleep(500);
    await heapUsed(); // the metrics listener's first connection is open while the count is taken
    const baseFiles = openFiles(br.pid);
    const fit = Math.floor((relayFiles - baseFiles - RELAY_FD_MARGIN) / 2);
    pairs = Math.min(wanted, fit);
    if (pairs < wanted) {
      const why = relayFiles >= OPEN_FILES ? "" : canRaiseHardLimits() ? " (raised as far as prlimit allowed)" : " (the hard limit: raising it needs CAP_SYS_RESOURCE, which the bench does not have)";
      cappedBy = `${pairs} of ${wanted} idle pairs: the relay's open-file limit is ${relayFiles}${why}, it had ${baseFiles} descriptors open before the first pair, and each pair takes two`;
    }
    // Two halves, each split over holders of at most PAIRS_PER_HOLDER pairs.
    for (const half of [Math.floor(pairs / 2), pairs - Math.floor(pairs / 2)]) {
      const jobs = [];
      for (let left = half; left > 0; left -= perHolder) {
        const h = fork(path.join(__dirname, "hold.js"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
        holders.push(h);
        jobs.push(order(h, { a: br.a, b: br.b, count: Math.min(perHolder, left), prefix: `idle${holders.length}-` }));
      }
      for (const r of await Promise.all(jobs)) {
        errors += Number(r["errors"]);
        firstError ??= r["firstError"] as string | undefined;
      }
      // Let the relay settle before reading RSS: deferred frees, and V8's memory reducer, which
      // collects a heap that has gone quiet after about 8 s.
      await sleep(quick ? 3000 : 12_000);
      points.push(rssKb(br.pid));
      heapPoints.push(await heapUsed());
    }
    for (const h of holders) {
      const r = await order(h, "check");
      if (r["checkError"]) throw new DeadPairError(deadPairCause(br, relayFiles, r["checkError"] as DeadPair));
    }
    const established = pairs - errors;
    const secondHalf = pairs - Math.floor(pairs / 2);
    return { kbPerPair: ((points[1]! - points[0]!) / secondHalf) * 1.024, heapBytesPerPair: (heapPoints[1]! - heapPoints[0]!) / secondHalf, rssMiB: points[1]! / 1024, established, errors, ...(firstError ? { firstError } : {}), ...(cappedBy ? { cappedBy } : {}) };
  } finally {
    for (const h of holders) h.kill();
    await br.stop();
  }
}

/**
 * One line on an idle pair that failed its check: what its ends saw, and what the relay said of
 * its session (its `closed` line, if any), of descriptors and of pipes.
 */
function deadPairCause(br: BenchRelay, relayFiles: number, dead: DeadPair): string {
  const ends = dead.ends.some((e) => e !== undefined) ? `; its ends saw ${dead.ends.map((e) => e ?? "nothing").join(" / ")}` : "";
  const logged = (event: string) => br.relay.events.find((e) => e["event"] === event);
  const closed = dead.tag ? br.relay.events.find((e) => e["event"] === "closed" && e["tag"] === dead.tag) : undefined;
  const relaySide = closed
    ? `the relay ended its session (${String(closed["how"])}${typeof closed["error"] === "string" ? `: ${closed["error"]}` : ""})`
    : "the relay logged no end of its session";
  const pressure = [
    `relay descriptors ${openFiles(br.pid)} of ${relayFiles}`,
    ...(logged("open_files_exhausted") ? ["it logged open_files_exhausted"] : []),
    ...(logged("splice_pipe_shortage") ? ["it logged splice_pipe_shortage"] : []),
  ].join(", ");
  return `idle pair ${dead.tag || "(unknown)"} no longer carries bytes (${dead.failure}${ends}): ${relaySide}; ${pressure}`;
}

/** socat's memory per idle forwarded connection (a process each), for reference. */
async function socatIdleMemory(socatPid: number, sink: Sink, socatPort: number, n: number): Promise<number> {
  const base = rssKb(socatPid, true);
  const held = [];
  for (let i = 0; i < n; i++) held.push(await sink.pair(socatPort));
  await sleep(500);
  const kb = (rssKb(socatPid, true) - base) / n;
  for (const p of held) p.close();
  return kb * 1.024;
}

async function main(): Promise<void> {
  ensureSocat();
  raiseOpenFiles(process.pid, OPEN_FILES); // best effort: the pairs are held by child processes anyway
  const started = Date.now();
  const sink = new Sink();
  await sink.listen();
  const socatPort = await freePort();
  const socat = await startSocat(socatPort, sink, true);
  const socatDefaultPort = await freePort();
  const socatDefault = await startSocat(socatDefaultPort, sink, false);
  const fronting = await freePort();
  const br = await startBenchRelay({ fronting: { address: `127.0.0.1:${fronting}`, trusted_proxies: ["127.0.0.1"] } }, OPEN_FILES);
  // The same relay forced onto its JavaScript data path, measured beside the native one.
  const brJs = await startBenchRelay({ native_splice: "off" }, OPEN_FILES);
  const dataPath = br.relay.events.find((e) => e["event"] === "data_path");
  const dataPathReason = dataPath?.["reason"];
  console.log(`frelay data path: ${String(dataPath?.["path"])}${typeof dataPathReason === "string" && dataPathReason ? ` (${dataPathReason})` : ""}`);
  let tag = 0;
  const makers: Record<Path, PairMaker> = {
    direct: () => sink.pair(),
    socatDefault: () => sink.pair(socatDefaultPort),
    socat: () => sink.pair(socatPort),
    frelay: () => relayPair(br, `tp${tag++}`),
    frelayJs: () => relayPair(brJs, `tp${tag++}`),
  };
  const pids = { socat: socat.proc.pid!, socatDefault: socatDefault.proc.pid!, frelay: br.pid, frelayJs: brJs.pid };
  const results: Record<string, unknown> = {};
  const rows: Row[] = [];
  try {
    console.log(`frelay bench (${quick ? "quick" : "full"}): ${os.cpus().length} × ${os.cpus()[0]?.model}, Node ${process.version} (OpenSSL ${process.versions.openssl})`);
    if (want("single")) {
    const single = await compare(makers, pids, 1, P.singleMiB * MiB, P.runs);
    results["single_pair"] = { bytes: P.singleMiB * MiB, runs: P.runs, ...single };
    const cells = (k: "mibps" | "cpuPerGB", r: typeof single) => ({ frelay: r.frelay[k]!, js: r.frelayJs[k]!, socat: r.socat[k]!, socatDefault: r.socatDefault[k]! });
    rows.push({ metric: `1 pair, ${P.singleMiB} MiB one way (MiB/s)`, ...cells("mibps", single), ceiling: single.direct.mibps, target: "≥ 1.5× socat tuned", met: single.frelay.mibps >= 1.5 * single.socat.mibps });
    rows.push({ metric: "relay CPU s per GB, 1 pair", ...cells("cpuPerGB", single), target: "≤ 0.5× socat tuned", met: single.frelay.cpuPerGB! <= 0.5 * single.socat.cpuPerGB!, lowerIsBetter: true });
    }
    if (want("pairs")) for (const n of [16, 64]) {
      const agg = await compare(makers, pids, n, P.aggMiB * MiB, P.aggRuns);
      results[`pairs_${n}`] = { bytes: P.aggMiB * MiB, runs: P.aggRuns, ...agg };
      const cells = (k: "mibps" | "cpuPerGB") => ({ frelay: agg.frelay[k]!, js: agg.frelayJs[k]!, socat: agg.socat[k]!, socatDefault: agg.socatDefault[k]! });
      rows.push({ metric: `${n} pairs, ${P.aggMiB} MiB in all (MiB/s)`, ...cells("mibps"), ceiling: agg.direct.mibps, target: "≥ 1.3× socat tuned", met: agg.frelay.mibps >= 1.3 * agg.socat.mibps });
      rows.push({ metric: `relay CPU s per GB, ${n} pairs`, ...cells("cpuPerGB"), lowerIsBetter: true });
    }
    if (want("latency")) {
    const lat = await pairingLatency(br, P.pairings);
    results["pairing_ms"] = lat;
    rows.push({ metric: `pairing p50 (ms, ${lat.samples} pairs)`, frelay: lat.p50, lowerIsBetter: true });
    rows.push({ metric: "pairing p90 (ms)", frelay: lat.p90, lowerIsBetter: true });
    rows.push({ metric: "pairing p99 (ms)", frelay: lat.p99, target: "≤ 1 ms", met: lat.p99 <= 1, lowerIsBetter: true });
    }
    if (want("sessions") || want("handshakes")) {
      // The relay as frelay init writes it (log file at info, metrics, CRL), run as the daemon.
      for (const keyType of ["rsa", "ec"] as const) {
        const c = await setupCosts(keyType, P.sessions, P.sessionRuns, P.handshakeMs);
        results[`sessions_${keyType}`] = c;
        const kt = keyType === "rsa" ? "RSA-2048" : "EC P-256";
        rows.push({ metric: `relay CPU ms per paired session, ${kt} (${c.sessions} × ${c.runs})`, frelay: c.cpuMs, target: "≤ 4 ms", met: c.cpuMs <= 4, lowerIsBetter: true });
        rows.push({ metric: `pairing p50 ms, request → reply, ${kt}`, frelay: c.p50, target: "≤ 0.4 ms", met: c.p50 <= 0.4, lowerIsBetter: true });
        rows.push({ metric: `pairing p99 ms, request → reply, ${kt}`, frelay: c.p99, target: "≤ 1.5 ms", met: c.p99 <= 1.5, lowerIsBetter: true });
        // What no Node relay gets below on this machine, measured in the same run and harness.
        rows.push({ metric: `  floor: a minimal Node TLS relay, CPU ms per session, ${kt}`, frelay: c.floor.cpuMs, lowerIsBetter: true });
        rows.push({ metric: `  floor: pairing p50 ms, ${kt}`, frelay: c.floor.p50, lowerIsBetter: true });
        rows.push({ metric: `  floor: pairing p99 ms, ${kt}`, frelay: c.floor.p99, lowerIsBetter: true });
        rows.push({ metric: `full mTLS handshakes/s, ${kt}`, frelay: c.full.perSec });
        rows.push({ metric: `relay CPU ms per full handshake, ${kt}`, frelay: c.full.cpuMs, lowerIsBetter: true });
        rows.push({ metric: `resumed handshakes/s, ${kt} (${(c.resumed.asked * 100).toFixed(0)}% resumed)`, frelay: c.resumed.perSec });
        rows.push({ metric: `relay CPU ms per resumed handshake, ${kt}`, frelay: c.resumed.cpuMs, lowerIsBetter: true });
        // OpenSSL's own server, same certificates and loops: a session's two handshakes cost at least twice this.
        if ("missing" in c.openssl) console.log(`(no openssl s_server reference: ${c.openssl.missing})`);
        else {
          rows.push({ metric: `  reference: ${c.openssl.openssl} s_server (C), full handshakes/s, ${kt}`, frelay: c.openssl.perSec });
          rows.push({ metric: `  reference: ${c.openssl.openssl} s_server (C), CPU ms per full handshake, ${kt}`, frelay: c.openssl.cpuMs, lowerIsBetter: true });
        }
      }
    }
    if (want("h2")) {
    const h2: Measured[] = [];
    for (let r = 0; r < P.h2Runs; r++) h2.push(await throughput(() => relayPairH2(br, `h2-${tag++}`), 1, P.h2MiB * MiB, br.pid));
    const h2Mibps = median(h2.map((m) => m.mibps));
    const h2Cpu = median(h2.map((m) => m.cpuPerGB!));
    results["h2_direct"] = { mibps: h2Mibps, cpuPerGB: h2Cpu };
    rows.push({ metric: `HTTP/2 direct, 1 stream, ${P.h2MiB} MiB (MiB/s)`, frelay: h2Mibps, target: "≥ 350 MiB/s", met: h2Mibps >= 350 });
    // The load generator does the same TLS + HTTP/2 work as the relay, twice over; the relay's
    // CPU per GB says what one core of relay could carry on its own.
    rows.push({ metric: `relay CPU s per GB, HTTP/2 (one core carries ${(1000 / h2Cpu).toFixed(0)} MB/s)`, frelay: h2Cpu, lowerIsBetter: true });
    const noNginx = missing("nginx");
    if (noNginx) console.log(`skipped HTTP/2 through nginx: ${noNginx}`);
    else {
      const port = await freePort();
      const nginx = await startNginxH2(br.fx, port, fronting);
      try {
        const viaNginx: number[] = [];
        for (let r = 0; r < P.h2Runs; r++) viaNginx.push((await throughput(() => relayPairH2(br, `ng-${tag++}`, `127.0.0.1:${port}`), 1, P.h2MiB * MiB)).mibps);
        results["h2_nginx_mibps"] = median(viaNginx);
        rows.push({ metric: `HTTP/2 through nginx, 1 stream (MiB/s)`, frelay: median(viaNginx) });
      } finally {
        await nginx.stop();
      }
    }
    }
    if (want("h2mem")) {
      // One connection, 64 streams, peers that never read: what it pins is bounded by
      // limits.h2_connection_buffer_mib (16 MiB by default), not by its stream count.
      const m = await h2ConnectionMemory(64);
      results["h2_connection_memory"] = m;
      rows.push({ metric: `HTTP/2 conn, ${m.paired}/${m.streams} streams, peers not reading: relay RSS growth (MiB)`, frelay: m.rssGrowthMiB, target: `window × streams = ${m.offeredMiB.toFixed(0)} MiB`, lowerIsBetter: true });
      rows.push({ metric: "relay external (Buffer) memory then (MiB)", frelay: m.externalMiB, lowerIsBetter: true });
    }
    if (want("cluster")) {
      const c = await clusterBench(quick ? CLUSTER_QUICK : CLUSTER_FULL);
      if ("skipped" in c) console.log(`skipped the cluster section: ${c.skipped}`);
      else {
        results["cluster"] = c.results;
        rows.push(...c.rows);
      }
    }
    if (want("idle")) {
    const socatKb = await socatIdleMemory(socat.proc.pid!, sink, socatPort, P.socatIdle);
    await br.stop();
    await brJs.stop();
    const idle = await idleMemory(P.idlePairs);
    results["idle"] = { ...idle, socatKbPerConnection: socatKb };
    if (idle.cappedBy) console.log(`note: ${idle.cappedBy}`);
    if (idle.firstError) console.log(`first pairing error: ${idle.firstError}`);
    rows.push({ metric: `idle pairs held (errors: ${idle.errors})`, frelay: idle.established, target: "≥ 10,000", met: idle.established >= 10_000 && idle.errors === 0 });
    rows.push({ metric: `relay KB per idle pair (RSS ${idle.rssMiB.toFixed(0)} MiB)`, frelay: idle.kbPerPair, socat: socatKb, target: "≤ 6 KB", met: idle.kbPerPair <= 6, lowerIsBetter: true });
    rows.push({ metric: "relay V8 heap bytes in use per idle pair", frelay: idle.heapBytesPerPair, lowerIsBetter: true });
    }
  } finally {
    socat.stop();
    socatDefault.stop();
    sink.close();
    await br.stop().catch(() => undefined);
    await brJs.stop().catch(() => undefined);
  }
  printTable(rows);
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version };
  const out = { date: new Date().toISOString(), mode: quick ? "quick" : "full", seconds: Math.round((Date.now() - started) / 1000), machine, params: P, results, table: rows };
  fs.writeFileSync(path.join(__dirname, "..", "..", "bench", "results.json"), JSON.stringify(out, null, 2) + "\n");
  console.log(`wrote bench/results.json (${out.seconds} s)`);
  process.exit(0);
}

main().catch((err) => {
  // A dead idle pair is a finding, told in one line; anything else is the harness's own bug.
  console.error(`bench failed: ${err instanceof DeadPairError ? err.message : err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
