/**
 * npm run soak -- --minutes N: mixed traffic against one relay for N minutes (not run in CI).
 * Stream and HTTP/2 parties pair, exchange random amounts both ways with end-to-end TLS and
 * check every byte; some hang up mid-transfer on purpose; the config is reloaded every few
 * seconds (SIGHUP, or an edit the watcher sees). Prints bytes moved, sessions, errors by kind
 * and the relay's memory over time, and writes bench/soak-results.json.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { connect, type ConnectOptions, type RelayedConnection } from "../src/client/connect";
import { makeFixture } from "../test/helpers/fixture";
import { runCli, startForeground } from "../test/helpers/cli";
import * as net from "node:net";
import { residentByKind, rssKb } from "./procstat";
import { sleep } from "./stats";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const MINUTES = arg("minutes", 10);
const WORKERS = arg("workers", 8);
const RELOAD_EVERY_MS = arg("reload-seconds", 5) * 1000;

const errors = new Map<string, number>();
const count = (kind: string) => errors.set(kind, (errors.get(kind) ?? 0) + 1);
const totals = { sessions: 0, hangups: 0, bytes: 0, reloads: 0, stream: 0, h2: 0 };

/** Reads until end or close, up to `limit` ms; resolves with what arrived. */
function drain(s: RelayedConnection["socket"], limitMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const done = () => (clearTimeout(timer), resolve(Buffer.concat(parts)));
    const timer = setTimeout(done, limitMs);
    s.on("data", (c: Buffer) => parts.push(c));
    s.once("end", done);
    s.once("close", done);
    s.on("error", () => undefined);
  });
}

async function oneSession(party: (id: string, dest: string, tag: string) => ConnectOptions, worker: number, n: number): Promise<void> {
  const transport = Math.random() < 0.3 ? "h2" : "stream";
  const [x, y] = worker % 2 === 0 ? ["0.user1", "1.user1"] : ["2.user1", "3.user1"];
  const tag = `w${worker}-${n}`;
  let pairs: [RelayedConnection, RelayedConnection];
  try {
    pairs = await Promise.all([connect({ ...party(x, y, tag), transport, timeoutMs: 20_000 }), connect({ ...party(y, x, tag), timeoutMs: 20_000 })]);
  } catch (err) {
    count(`pairing: ${(err as Error).message.replace(/\d+/g, "N").slice(0, 80)}`);
    return;
  }
  totals[transport]++;
  const [a, b] = pairs;
  const up = crypto.randomBytes(Math.floor(Math.random() * 4 * 1024 * 1024) + 1);
  const down = crypto.randomBytes(Math.floor(Math.random() * 1024 * 1024) + 1);
  if (Math.random() < 0.1) {
    // Hang up mid-transfer: the other side must see its connection end, not hang.
    const seen = drain(b.socket, 15_000);
    a.socket.write(up.subarray(0, up.length >> 1));
    await sleep(Math.random() * 50);
    a.socket.destroy();
    const t0 = Date.now();
    await seen;
    if (Date.now() - t0 > 14_000) count("hangup not noticed by the peer");
    b.socket.destroy();
    totals.hangups++;
    return;
  }
  const [gotUp, gotDown] = [drain(b.socket, 60_000), drain(a.socket, 60_000)];
  a.socket.end(up);
  b.socket.end(down);
  const [u, d] = await Promise.all([gotUp, gotDown]);
  if (!u.equals(up) || !d.equals(down)) count("bytes lost or changed");
  else {
    totals.sessions++;
    totals.bytes += up.length + down.length;
  }
  a.socket.destroy();
  b.socket.destroy();
}

/** A free loopback port for the relay's metrics listener (its memory figures come from there). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** The relay's own view of its memory (prom-client's process metrics), in MiB. */
async function relayMemory(metricsUrl: string): Promise<{ heapUsedMiB: number; externalMiB: number; largeObjectsMiB: number; trims: number; mallocInUseMiB: number; mallocFreeMiB: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const total = (name: string, filter = "") => {
    let sum = 0;
    for (const line of text.split("\n")) if (line.startsWith(name) && line.includes(filter) && !line.startsWith("#")) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    return sum;
  };
  const read = (name: string, filter = "") => mib(total(name, filter));
  return {
    heapUsedMiB: read("frelay_process_nodejs_heap_size_used_bytes "),
    externalMiB: read("frelay_process_nodejs_external_memory_bytes "),
    largeObjectsMiB: read("frelay_process_nodejs_heap_space_size_used_bytes", 'space="large_object"'),
    trims: total("frelay_memory_trims_total "),
    mallocInUseMiB: read("frelay_malloc_in_use_bytes "),
    mallocFreeMiB: read("frelay_malloc_free_bytes "),
  };
}

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

const SNAPSHOT_DIR = path.join(__dirname, "..", "..", "bench");
const snapshotFiles = () => fs.readdirSync(SNAPSHOT_DIR).filter((f) => f.endsWith(".heapsnapshot"));

/** Asks the relay (run with --heapsnapshot-signal) for a heap snapshot; resolves once it is written (bounded). */
async function heapSnapshot(pid: number, label: string): Promise<void> {
  const before = new Set(snapshotFiles());
  process.kill(pid, "SIGUSR2");
  const deadline = Date.now() + 120_000;
  let last = -1;
  while (Date.now() < deadline) {
    await sleep(1000);
    const fresh = snapshotFiles().find((f) => !before.has(f));
    if (!fresh) continue;
    const size = fs.statSync(path.join(SNAPSHOT_DIR, fresh)).size;
    if (size > 0 && size === last) {
      console.log(`  heap snapshot (${label}): bench/${fresh}, ${(size / 2 ** 20).toFixed(1)} MiB`);
      return;
    }
    last = size;
  }
  console.log(`  heap snapshot (${label}) not written within 120 s`);
}

async function main(): Promise<void> {
  const fx = makeFixture();
  const metricsPort = await freePort();
  const config = (flip: boolean) => ({
    timeouts: { handshake: "10s", pair: "20s", idle: "0s", drain: "2s" },
    log: { level: "info" },
    metrics: { address: `127.0.0.1:${metricsPort}` },
    // The reloads change something real: a route nobody here uses comes and goes.
    routes: [{ between: ["0.user1", "1.user1"] }, { between: ["2.user1", "3.user1"] }, ...(flip ? [{ between: ["hub.flock", "*.flock"] }] : [])],
  });
  fx.writeConfig(config(false));
  const snapshots = process.argv.includes("--heap-snapshots");
  const relay = await startForeground(fx.configFile, snapshots ? ["--heapsnapshot-signal=SIGUSR2", "--diagnostic-dir", SNAPSHOT_DIR] : []);
  const pid = relay.proc.pid!;
  const party = (id: string, dest: string, tag: string): ConnectOptions => fx.party(id, dest, relay.address, tag);
  const started = Date.now();
  const until = started + MINUTES * 60_000;
  // cHeapMiB / anonMiB / fileMiB: where the RSS is (see residentByKind); trims: the relay's malloc_trim
  // count; mallocInUseMiB / mallocFreeMiB: what glibc's malloc holds in use and free (all arenas).
  const memory: { minute: number; rssMiB: number; heapUsedMiB: number; externalMiB: number; largeObjectsMiB: number; trims: number; mallocInUseMiB: number; mallocFreeMiB: number; cHeapMiB: number; anonMiB: number; fileMiB: number; sessions: number; served: number }[] = [];
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  console.log(`soak: ${MINUTES} min, ${WORKERS} workers, reload every ${RELOAD_EVERY_MS / 1000} s; relay pid ${pid}`);

  const sample = async () => {
    const st = JSON.parse((await runCli(["status", "--json", "-c", fx.configFile])).stdout || "{}") as Record<string, number>;
    const mem = await relayMemory(metricsUrl).catch(() => ({ heapUsedMiB: -1, externalMiB: -1, largeObjectsMiB: -1, trims: -1, mallocInUseMiB: -1, mallocFreeMiB: -1 }));
    const where = residentByKind(pid);
    const point = {
      minute: Math.round((Date.now() - started) / 6000) / 10,
      rssMiB: Math.round(rssKb(pid) / 1024),
      ...mem,
      cHeapMiB: mib(where.cHeap * 1024),
      anonMiB: mib(where.anon * 1024),
      fileMiB: mib(where.file * 1024),
      sessions: st["active_sessions"] ?? -1,
      served: totals.sessions + totals.hangups,
    };
    memory.push(point);
    console.log(`  ${point.minute} min: RSS ${point.rssMiB} MiB (C heap ${point.cHeapMiB}: malloc in use ${point.mallocInUseMiB}, free ${point.mallocFreeMiB}; other anon ${point.anonMiB}, files ${point.fileMiB}), JS heap ${point.heapUsedMiB} MiB, external ${point.externalMiB} MiB, ${point.trims} trims, ${point.sessions} active sessions, ${totals.sessions} done, ${(totals.bytes / 2 ** 30).toFixed(2)} GiB, ${[...errors.values()].reduce((x, y) => x + y, 0)} errors`);
    if (snapshots && memory.length === 4) void heapSnapshot(pid, "early");
  };
  const sampler = setInterval(() => void sample(), Math.max(10_000, (MINUTES * 60_000) / 20));

  let flip = false;
  const reloader = setInterval(() => {
    flip = !flip;
    if (flip) fs.writeFileSync(fx.configFile, JSON.stringify({ ...JSON.parse(fs.readFileSync(fx.configFile, "utf8")), ...config(true) }, null, 2));
    else process.kill(pid, "SIGHUP");
    totals.reloads++;
  }, RELOAD_EVERY_MS);

  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      for (let n = 0; Date.now() < until; n++) await oneSession(party, w, n);
    }),
  );
  clearInterval(reloader);
  clearInterval(sampler);
  if (snapshots) await heapSnapshot(pid, "late");
  await sleep(3000);
  const final = JSON.parse((await runCli(["status", "--json", "-c", fx.configFile])).stdout) as Record<string, unknown>;
  const reloadEvents = relay.events.filter((e) => e["event"] === "reload");
  const result = {
    minutes: MINUTES,
    workers: WORKERS,
    ...totals,
    gib: totals.bytes / 2 ** 30,
    reloadsApplied: reloadEvents.length,
    reloadsFailed: reloadEvents.filter((e) => e["ok"] === false).length,
    errors: Object.fromEntries(errors),
    memory,
    final: { waiting: final["waiting"], connections: final["connections"], sessions: final["active_sessions"], relayAlive: relay.proc.exitCode === null },
  };
  console.log(JSON.stringify(result, null, 2));
  fs.writeFileSync(path.join(__dirname, "..", "..", "bench", "soak-results.json"), `${JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2)}\n`);
  await relay.stop();
  fx.cleanup();
  process.exit(0);
}

main().catch((err) => {
  console.error(`soak failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
