/**
 * What a session costs to set up: the relay as `frelay init` configures it (its config.json,
 * log level info to the log file, metrics on, the CRL loaded), run as the daemon runs (no
 * stdout logging), and a lean load generator that is not frelay's client: plain TLS sockets
 * that send the request and read the reply, nothing else.
 *
 *  - relay CPU per paired session: two full mTLS handshakes, the pairing, its log lines and
 *    the close, from the relay's own CPU time over many sessions;
 *  - pairing latency: the second party's request written → its reply read, with the first
 *    party already waiting (seen in the relay's log file, never by asking the relay).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import { makeFixture, type Fixture } from "../test/helpers/fixture";
import { freePort } from "../test/helpers/cli";
import { waitForPort } from "../test/helpers/fronts";
import { cpuSeconds } from "./procstat";
import { percentile } from "./stats";

/** FRELAY_BENCH_BIN: another build's bin/frelay.js, to compare two builds in one run. */
const BIN = process.env["FRELAY_BENCH_BIN"] ?? path.join(__dirname, "..", "..", "bin", "frelay.js");
const EXAMPLE = path.join(__dirname, "..", "..", "config.example.json");

export interface InitRelay {
  fx: Fixture;
  pid: number;
  port: number;
  logFile: string;
  /** TLS options for party 0.user1 and 1.user1. */
  a: tls.ConnectionOptions;
  b: tls.ConnectionOptions;
  /** Resolves once the log file shows `pred` on a line added after this call. */
  waitForLog(pred: (line: string) => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface InitRelayOptions {
  /** Node flags for the relay process (--cpu-prof, ...). */
  nodeArgs?: string[];
  /** Certificates of this key type (fixture default: RSA-2048). */
  keyType?: "rsa" | "ec";
  cwd?: string;
  /** Top-level keys replaced in the config (for experiments). */
  config?: Record<string, unknown>;
  /** Runs the floor relay (floor-relay.ts) on the same certificates instead of frelay. */
  floor?: boolean;
}

/**
 * The relay with config.example.json (what `frelay init` writes) on loopback ports, started as
 * `frelay start` starts its daemon child: logs to the file only.
 */
export async function startInitRelay(opts: InitRelayOptions = {}): Promise<InitRelay> {
  const fx = makeFixture([["0", "user1"], ["1", "user1"]], opts.keyType ? { keyType: opts.keyType } : {});
  const config = JSON.parse(fs.readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;
  config["address"] = "127.0.0.1:0";
  config["metrics"] = { address: `127.0.0.1:${await freePort()}` };
  Object.assign(config, opts.config ?? {});
  fs.writeFileSync(fx.configFile, JSON.stringify(config, null, 2));
  const logFile = path.resolve(fx.dir, (config["log"] as { file: string }).file);
  if (opts.floor) fs.closeSync(fs.openSync(logFile, "a", 0o600));
  const argv = opts.floor ? [path.join(__dirname, "floor-relay.js"), fx.certsDir, logFile] : [BIN, "start", "--daemon-child", "-c", fx.configFile];
  const proc: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...argv], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    cwd: opts.cwd ?? fx.dir,
  });
  const ready = await new Promise<{ ready: boolean; listeners?: string[]; error?: string }>((resolve) => {
    proc.once("message", (m) => resolve(m as { ready: boolean }));
    proc.once("exit", (code) => resolve({ ready: false, error: `exited with ${code}` }));
  });
  if (!ready.ready) throw new Error(`bench relay did not start: ${ready.error}`);
  const stream = ready.listeners!.find((l) => l.startsWith("stream "))!;
  const port = Number(stream.slice(stream.lastIndexOf(":") + 1));
  const party = (id: string): tls.ConnectionOptions => {
    const p = fx.party(id, "", "");
    return { host: "127.0.0.1", port, ca: p.relayCa, cert: p.relayCert, key: p.relayKey, servername: "frelay" };
  };
  let offset = fs.statSync(logFile).size;
  const waitForLog = (pred: (line: string) => boolean, timeoutMs = 10_000) =>
    new Promise<void>((resolve, reject) => {
      const from = offset;
      let carry = "";
      let read = from;
      const check = (): boolean => {
        const size = fs.statSync(logFile).size;
        if (size <= read) return false;
        const fd = fs.openSync(logFile, "r");
        const buf = Buffer.alloc(size - read);
        fs.readSync(fd, buf, 0, buf.length, read);
        fs.closeSync(fd);
        read = size;
        const lines = (carry + buf.toString("utf8")).split("\n");
        carry = lines.pop()!;
        for (const l of lines) if (pred(l)) return true;
        return false;
      };
      const finish = (err?: Error) => {
        watcher.close();
        clearInterval(poll);
        clearTimeout(timer);
        offset = read - Buffer.byteLength(carry);
        if (err) reject(err);
        else resolve();
      };
      // Watched from this process (inotify, with a slow poll behind it): it costs the relay nothing.
      const watcher = fs.watch(logFile, () => check() && finish());
      const poll = setInterval(() => check() && finish(), 50);
      const timer = setTimeout(() => finish(new Error("the relay's log never showed the expected line")), timeoutMs);
      if (check()) finish();
    });
  return {
    fx,
    pid: proc.pid!,
    port,
    logFile,
    a: party("0.user1"),
    b: party("1.user1"),
    waitForLog,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(t);
      }
      fx.cleanup();
    },
  };
}

interface Dialed {
  socket: tls.TLSSocket;
  /** Resolves with the time the reply was read. */
  reply: Promise<number>;
}

/**
 * One party: mTLS to the relay (a full handshake), then the request. With TLS 1.3 the request
 * waits for the relay's session tickets, so that they do not fall inside the timed interval.
 */
function dial(opts: tls.ConnectionOptions, dest: string, tag: string): Promise<Dialed & { requestedAt: number }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...opts, minVersion: "TLSv1.2" });
    socket.setNoDelay(true);
    socket.on("error", reject);
    const reply = new Promise<number>((res, rej) => {
      let text = "";
      socket.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        if (text.includes("}")) {
          const at = performance.now();
          if (!text.includes('"Mode":1') && !text.includes('"Mode":2')) rej(new Error(`refused: ${text}`));
          res(at);
        }
      });
      socket.on("close", () => rej(new Error("closed before its reply")));
    });
    reply.catch(() => undefined);
    socket.once("secureConnect", () => {
      const send = () => {
        const requestedAt = performance.now();
        socket.write(JSON.stringify({ DestParty: dest, Tag: tag }));
        resolve({ socket, reply, requestedAt });
      };
      if (socket.getProtocol() === "TLSv1.3") socket.once("session", () => setImmediate(send));
      else send();
    });
  });
}

export interface SessionFigures {
  sessions: number;
  /** Relay CPU ms per paired session (handshakes, pairing, logs, close). */
  cpuMs: number;
  p50: number;
  p90: number;
  p99: number;
}

/**
 * `n` paired sessions, one after another: the first party dials and is seen waiting in the log,
 * then the second dials and its request → reply is timed; both close. The relay's CPU over the
 * whole run, divided by `n`, is the set-up cost of a session.
 */
export async function sessionSetup(br: InitRelay, n: number, warmup = Math.min(50, n)): Promise<SessionFigures> {
  const one = async (tag: string): Promise<number> => {
    const waiting = br.waitForLog((l) => l.includes('"event":"waiting"') && l.includes(`"tag":"${tag}"`));
    const a = await dial(br.a, "1.user1", tag);
    await waiting;
    const b = await dial(br.b, "0.user1", tag);
    const repliedAt = await b.reply;
    await a.reply;
    const closed = br.waitForLog((l) => l.includes('"event":"closed"') && l.includes(`"tag":"${tag}"`));
    a.socket.destroy();
    b.socket.destroy();
    await closed;
    return repliedAt - b.requestedAt;
  };
  for (let i = 0; i < warmup; i++) await one(`warm${i}`);
  const lat: number[] = [];
  const before = cpuSeconds(br.pid);
  for (let i = 0; i < n; i++) lat.push(await one(`s${i}`));
  const cpu = cpuSeconds(br.pid) - before;
  return { sessions: n, cpuMs: (cpu * 1000) / n, p50: percentile(lat, 50), p90: percentile(lat, 90), p99: percentile(lat, 99) };
}

export interface HandshakeFigures {
  perSec: number;
  /** Relay CPU ms per handshake. */
  cpuMs: number;
  /** Of the handshakes made, the share that went the way asked (resumed when `resumed`). */
  asked: number;
}

/**
 * Mutual-TLS handshakes only (each connection closes once its handshake is done), from
 * `concurrency` loops for `ms`. `resumed`: every connection offers the session ticket of an
 * earlier one, so the relay resumes instead of running the full handshake.
 */
export async function handshakeRate(br: InitRelay, concurrency: number, ms: number, resumed: boolean): Promise<HandshakeFigures> {
  const ctx = tls.createSecureContext({ ca: br.a.ca as string, cert: br.a.cert as string, key: br.a.key as string });
  let session: Buffer | undefined;
  const one = () =>
    new Promise<boolean>((resolve) => {
      const s = tls.connect({ host: "127.0.0.1", port: br.port, servername: "frelay", secureContext: ctx, ...(resumed && session ? { session } : {}) });
      s.on("error", () => resolve(false));
      if (resumed) s.on("session", (t: Buffer) => (session = t));
      s.once("secureConnect", () => {
        const ok = !resumed || s.isSessionReused();
        // TLS 1.3 tickets come after the handshake: wait for one before closing while there is none.
        const close = () => {
          s.destroy();
          resolve(ok && (!resumed || session !== undefined));
        };
        if (resumed && !session) s.once("session", close);
        else close();
      });
    });
  if (resumed) while (!session) await one();
  const until = performance.now() + ms;
  let done = 0;
  let tried = 0;
  const before = cpuSeconds(br.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        tried++;
        if (await one()) done++;
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(br.pid) - before;
  // Per handshake made, whichever way it went: the relay did the work either way.
  return { perSec: tried / wall, cpuMs: tried > 0 ? (cpu * 1000) / tried : NaN, asked: tried > 0 ? done / tried : 0 };
}

/**
 * OpenSSL's own TLS server (`openssl s_server`: C, no JavaScript, TLS 1.3 with its default two
 * session tickets) on the relay's certificates, driven by the same loops as handshakeRate: what
 * a full mutual-TLS handshake costs a server on this machine before any relay work. A paired
 * session holds two. Says why instead where the openssl command is missing.
 */
export async function opensslServerRate(br: InitRelay, concurrency: number, ms: number): Promise<(HandshakeFigures & { openssl: string }) | { missing: string }> {
  const version = spawnSync("openssl", ["version"], { encoding: "utf8" });
  if (version.status !== 0) return { missing: "the openssl command is not installed (apt-get install openssl)" };
  const port = await freePort();
  const file = (f: string) => path.join(br.fx.certsDir, f);
  const server = spawn("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, "-cert", file("relay.pem"), "-key", file("relay.key"), "-CAfile", file("relay-ca.pem"), "-Verify", "2", "-www", "-quiet"], { stdio: "ignore" });
  try {
    await waitForPort(port, server, () => "openssl s_server");
    const figures = await handshakeRate({ ...br, port, pid: server.pid! }, concurrency, ms, false);
    return { ...figures, openssl: version.stdout.trim().split(" ").slice(0, 2).join(" ") };
  } finally {
    server.kill("SIGKILL");
  }
}

/** `node dist/bench/sessions.js [n] [--key-type ec] [--cpu-prof] [--floor]`: one run, for profiling the relay (its pid on stderr, for perf). */
if (require.main === module) {
  void (async () => {
    const n = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 300);
    const prof = process.argv.includes("--cpu-prof");
    const extra = process.env["FRELAY_BENCH_CONFIG"];
    // FRELAY_BENCH_NODE_ARGS: more Node flags for the relay (e.g. --perf-basic-prof, for perf).
    const nodeArgs = (process.env["FRELAY_BENCH_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
    const br = await startInitRelay({
      floor: process.argv.includes("--floor"),
      nodeArgs: [...nodeArgs, ...(prof ? ["--cpu-prof", `--cpu-prof-dir=${process.cwd()}`] : [])],
      ...(process.argv.includes("--key-type") ? { keyType: process.argv[process.argv.indexOf("--key-type") + 1] as "rsa" | "ec" } : {}),
      ...(extra ? { config: JSON.parse(extra) as Record<string, unknown> } : {}),
    });
    console.error(`relay pid ${br.pid}`);
    try {
      console.log(JSON.stringify(await sessionSetup(br, n)));
    } finally {
      await br.stop();
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
