import cluster, { type Worker } from "node:cluster";
import * as crypto from "node:crypto";
import * as net from "node:net";
import * as path from "node:path";
import { loadConfig, type RelayConfig } from "../config/load";
import { ControlServer } from "../daemon/control-server";
import type { ReloadResult } from "../daemon/process-lifecycle";
import { readPidfile, removePidfile, writePidfile } from "../daemon/pidfile";
import { ConfigWatcher } from "../daemon/watch";
import { DaemonError, UsageError, describe, type FrelayError } from "../errors";
import { createLogger } from "../log/logger";
import { VERSION } from "../version";
import { SIBLINGS_ENV, type SiblingMessage } from "./sibling-link";
import { holdWhilePassing, passOn } from "./socket-passing";

/**
 * `frelay start --workers N`: N relay processes on one listening address, meeting each other
 * through the cluster's Redis like nodes on different machines.
 *
 * Where Node offers `reusePort` (22.12 and later on the 22 line, 23.1 and later), each worker
 * binds a listening socket of its own on the one address with SO_REUSEPORT and the kernel
 * spreads new connections among them: the primary takes no part in accepting. Node 20 has no
 * `reusePort`, so there the workers share one listening socket through Node's cluster module:
 * the primary accepts and hands connections round-robin to the workers. Either way the workers
 * do all TLS and relaying. The primary owns the
 * pidfile, the control socket, the config watcher and the signals, and passes stop, reload and
 * status on to every worker over IPC.
 */
const BIN = path.join(__dirname, "..", "..", "..", "bin", "frelay.js");
const READY_TIMEOUT_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** What `runDaemonProcess` passes to the primary (daemon/daemon-process's options, restated to keep imports one way). */
export interface PrimaryOptions {
  stdout: boolean;
  onReady?: (info: { pid: number; listeners: string[]; warnings: string[] }) => void;
}

type Command = "status" | "sessions" | "reload" | "closeSession" | "stop" | "reopen";
interface Request { frelay: "req"; id: number; cmd: Command; arg?: string }
interface Reply { frelay: "reply"; id: number; result: unknown }
interface Ready { frelay: "ready"; listeners: string[] }
interface Failed { frelay: "failed"; error: string; details: string[] }
type WorkerMessage = Reply | Ready | Failed;

/** Whether this Node's net servers take `reusePort` (SO_REUSEPORT): 22.12+, 23.1+. */
export function reusePortSupported(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** How the workers of this machine accept: each on its own SO_REUSEPORT socket, or through the primary. */
export type AcceptMode = "reuseport" | "shared";

/** Said by `start` and `status`. */
export const ACCEPT_TEXT: Record<AcceptMode, string> = {
  reuseport: "each accepts on its own socket: SO_REUSEPORT, the kernel spreads connections",
  shared: "one socket shared through the primary: Node's cluster module, round-robin",
};

/** Ports the first worker bound where config.json asks for port 0, so that the others bind the same (own sockets only). */
const BOUND_PORTS_ENV = "FRELAY_BOUND_PORTS";

function boundPorts(listeners: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of listeners) {
    const m = /^(stream|h2c) .*:(\d+)$/.exec(l);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The config as worker `index` (1-based) runs it: its own node name, link port and metrics port. */
export function configForWorker(config: RelayConfig, index: number): RelayConfig {
  const c = config.cluster;
  if (!c) return config;
  const withPort = <A extends { port: number; text: string; host: string }>(a: A, port: number): A => ({ ...a, port, text: `${a.host.includes(":") ? `[${a.host}]` : a.host}:${port}` });
  const shift = <A extends { port: number; text: string; host: string }>(a: A): A => (a.port === 0 ? a : withPort(a, a.port + index - 1));
  // Own listening sockets and port 0: every worker must bind the port the first one got.
  const bound = JSON.parse(process.env[BOUND_PORTS_ENV] || "{}") as Record<string, number>;
  const fronting = config.fronting;
  return Object.freeze({
    ...config,
    ...(config.address.port === 0 && bound["stream"] ? { address: withPort(config.address, bound["stream"]) } : {}),
    ...(fronting?.address.kind === "tcp" && fronting.address.port === 0 && bound["h2c"] ? { fronting: Object.freeze({ ...fronting, address: withPort(fronting.address, bound["h2c"]) }) } : {}),
    cluster: Object.freeze({ ...c, node: `${c.node}-${index}`, peerAddress: shift(c.peerAddress) }),
    ...(config.metrics ? { metrics: Object.freeze({ address: shift(config.metrics.address) }) } : {}),
  });
}

/** The worker index this process runs as, if it is a worker. */
export function workerIndex(): number | undefined {
  const v = process.env["FRELAY_WORKER"];
  return cluster.isWorker && v ? Number(v) : undefined;
}

/** How many workers `start` should run: the flag, else cluster.workers, else 1. */
export function workerCount(config: RelayConfig, flag: number | undefined): number {
  const n = flag ?? config.cluster?.workers ?? 1;
  if (n > 1 && !config.cluster) {
    throw new UsageError(`--workers ${n} needs a cluster section in ${config.file}: workers meet through Redis (add cluster.redis, cluster.node and cluster.peer_address; see README "Scaling out")`);
  }
  return n;
}

class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, (r: unknown) => void>();
  listeners: string[] = [];

  constructor(readonly index: number, public worker: Worker) {}

  attach(worker: Worker): void {
    this.worker = worker;
    worker.on("message", (m: WorkerMessage) => {
      if (m?.frelay !== "reply") return;
      this.pending.get(m.id)?.(m.result);
      this.pending.delete(m.id);
    });
  }

  request(cmd: Command, arg?: string): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve({ error: `worker ${this.index} did not answer` });
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      if (!this.worker.isConnected()) return this.pending.get(id)?.({ error: `worker ${this.index} is not running` });
      this.worker.send({ frelay: "req", id, cmd, ...(arg !== undefined ? { arg } : {}) } satisfies Request);
    });
  }
}

/** The primary: forks the workers, then serves the control socket on their behalf. */
export async function runPrimary(configFile: string, count: number, opts: PrimaryOptions): Promise<number> {
  const config = loadConfig(configFile);
  const pid = readPidfile(config.pidfile);
  if (pid.kind === "running" && pid.pid !== process.pid) {
    throw new DaemonError("FRELAY_ERR_RUNNING", `frelay is already running (pid ${pid.pid}, pidfile ${config.pidfile}); stop it first with "frelay stop"`);
  }
  const logs = createLogger({ level: config.log.level, file: config.log.file, stdout: opts.stdout });
  const log = logs.logger.child("workers");
  const startedAt = Date.now();
  let stopping = false;
  let lastReload: ReloadResult | undefined;
  cluster.setupPrimary({ exec: BIN, args: ["start", "--worker", "-c", configFile] });
  // Workers' incarnations start with this token: how a worker knows a waiter is a sibling's.
  const siblingsToken = crypto.randomBytes(4).toString("hex");
  const accept: AcceptMode = reusePortSupported() ? "reuseport" : "shared";
  let bound = "";

  const handles: WorkerHandle[] = [];
  const nodeOf = (index: number) => configForWorker(config, index).cluster?.node;
  const fork = (index: number): Promise<WorkerHandle> => {
    const worker = cluster.fork({
      FRELAY_WORKER: String(index),
      FRELAY_WORKER_STDOUT: opts.stdout ? "1" : "",
      [SIBLINGS_ENV]: siblingsToken,
      FRELAY_REUSEPORT: accept === "reuseport" ? "1" : "",
      [BOUND_PORTS_ENV]: bound,
    });
    const handle = handles[index - 1] ?? new WorkerHandle(index, worker);
    handles[index - 1] = handle;
    handle.attach(worker);
    worker.on("message", (m: SiblingMessage, passed: unknown) => {
      if (m?.frelay === "sibling") routeSibling(m, passed, handles.find((h) => nodeOf(h.index) === m.to), handle);
    });
    worker.on("exit", (code, signal) => {
      if (stopping || handle.worker !== worker) return;
      // A worker that dies is replaced: its sessions are lost, its node leaves Redis by heartbeat.
      log.error("worker_exited", { worker: index, pid: worker.process.pid, code, signal });
      void fork(index).catch((err: unknown) => log.error("worker_restart_failed", { worker: index, error: describe(err) }));
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new DaemonError("FRELAY_ERR_LISTEN", `worker ${index} did not report ready within ${READY_TIMEOUT_MS / 1000}s (see ${config.log.file})`)), READY_TIMEOUT_MS);
      const onExit = (code: number | null) => {
        clearTimeout(timer);
        reject(new DaemonError("FRELAY_ERR_LISTEN", `worker ${index} exited during start-up with code ${code} (see ${config.log.file})`));
      };
      worker.once("exit", onExit);
      worker.on("message", (m: WorkerMessage) => {
        if (m?.frelay === "ready") {
          clearTimeout(timer);
          worker.off("exit", onExit);
          handle.listeners = m.listeners;
          resolve(handle);
        } else if (m?.frelay === "failed") {
          clearTimeout(timer);
          worker.off("exit", onExit);
          reject(new DaemonError("FRELAY_ERR_LISTEN", `worker ${index}: ${m.error}`, m.details));
        }
      });
    });
  };

  const stopAll = async () => {
    stopping = true;
    const exits = handles.map((h) => (h.worker.isDead() ? Promise.resolve() : new Promise<void>((r) => h.worker.once("exit", () => r()))));
    for (const h of handles) void h.request("stop");
    await Promise.all(exits);
  };

  try {
    // With own sockets, the first worker binds first: a port 0 in config.json becomes the port
    // every other worker (and any replacement) binds.
    const first = await fork(1);
    if (accept === "reuseport") bound = JSON.stringify(boundPorts(first.listeners));
    await Promise.all(Array.from({ length: count - 1 }, (_, i) => fork(i + 2)));
  } catch (err) {
    await stopAll();
    await logs.close();
    throw err;
  }

  const all = <T>(cmd: Command, arg?: string) => Promise.all(handles.map((h) => h.request(cmd, arg) as Promise<T>));
  const reload = async (): Promise<ReloadResult> => {
    const results = await all<ReloadResult>("reload");
    const failed = results.find((r) => !r?.ok);
    const pending = [...new Set(results.flatMap((r) => r?.pendingRestart ?? []))];
    const message = pending.length ? `reloaded; needs a restart: ${pending.join("; ")}` : results.some((r) => r.message.startsWith("reloaded")) ? "reloaded" : "unchanged";
    const result: ReloadResult = failed ?? { ok: true, message, at: new Date().toISOString(), ...(pending.length ? { pendingRestart: pending } : {}) };
    if (result.message !== "unchanged" || !lastReload) lastReload = result;
    return result;
  };
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  const control = new ControlServer(
    config.controlSocket,
    {
      status: async () => ({ ...primaryStatus(configFile, config, startedAt, lastReload, handles, await all<Record<string, unknown>>("status")), accept }),
      sessions: async () => (await all<unknown[]>("sessions")).flatMap((list, i) => (Array.isArray(list) ? list.map((s) => ({ worker: i + 1, ...(s as object) })) : [])),
      reload,
      closeSession: async (id) => (await all<boolean>("closeSession", id)).some(Boolean),
      stop: () => stopRequested(),
      configFile: () => configFile,
    },
    log.child("control"),
  );
  try {
    await control.listen();
  } catch (err) {
    await stopAll();
    await logs.close();
    throw new DaemonError("FRELAY_ERR_LISTEN", `control socket ${config.controlSocket} cannot be created (${describe(err)}; check the folder's permissions)`);
  }
  writePidfile(config.pidfile);
  const watcher = new ConfigWatcher(() => loadWatched(configFile, config), () => void reload(), log.child("watch"));
  await Promise.race([watcher.ready(), new Promise((r) => setTimeout(r, 5000).unref())]);
  const onSignal = {
    SIGTERM: () => stopRequested(),
    SIGINT: () => stopRequested(),
    SIGHUP: () => void reload(),
    SIGUSR1: () => {
      logs.reopen();
      void all("reopen");
    },
  } as const;
  for (const [sig, fn] of Object.entries(onSignal)) process.on(sig, fn);
  const listeners = [...(handles[0]?.listeners ?? []), `workers ${count} (${ACCEPT_TEXT[accept]})`];
  log.info("ready", { pid: process.pid, version: VERSION, listeners, workers: handles.map((h) => h.worker.process.pid), accept });
  opts.onReady?.({ pid: process.pid, listeners, warnings: [] });

  await stopped;
  for (const [sig, fn] of Object.entries(onSignal)) process.off(sig, fn);
  log.info("stopping", { workers: count });
  await watcher.close();
  await stopAll();
  await control.close();
  removePidfile(config.pidfile);
  log.info("stopped", {});
  await logs.close();
  return 0;
}

/**
 * Passes a sibling message (and the party connection some carry) on to the worker it names.
 * The primary only routes: a connection passing through is sent on and let go of at once, and
 * whatever Node read from it meanwhile follows as "passed" (see socket-passing.ts).
 */
function routeSibling(m: SiblingMessage, passed: unknown, target: WorkerHandle | undefined, sender: WorkerHandle): void {
  const sock = passed instanceof net.Socket ? passed : undefined;
  if (sock) holdWhilePassing(sock);
  if (target && target.worker.isConnected()) {
    if (!sock) return void target.worker.send(m);
    const worker = target.worker;
    passOn(
      sock,
      (s, cb) => worker.send(m, s, { keepOpen: true }, cb),
      (err, late) => {
        if (err || !worker.isConnected()) return;
        worker.send({ frelay: "sibling", kind: "passed", to: m.to, from: m.from, session: m.session, leftover: late.toString("base64") } satisfies SiblingMessage);
      },
    );
    return;
  }
  sock?.destroy();
  if (sender.worker.isConnected() && m.kind === "claim") sender.worker.send({ frelay: "sibling", kind: "undeliverable", to: m.from, from: m.to, session: m.session } satisfies SiblingMessage);
}

function loadWatched(configFile: string, fallback: RelayConfig): readonly string[] {
  try {
    return loadConfig(configFile).watchedFiles;
  } catch {
    return fallback.watchedFiles;
  }
}

function primaryStatus(configFile: string, config: RelayConfig, startedAt: number, lastReload: ReloadResult | undefined, handles: WorkerHandle[], statuses: Record<string, unknown>[]): Record<string, unknown> {
  const sum = (k: string) => statuses.reduce((n, s) => n + (Number(s?.[k]) || 0), 0);
  return {
    pid: process.pid,
    version: VERSION,
    started_at: new Date(startedAt).toISOString(),
    uptime_s: Math.round((Date.now() - startedAt) / 1000),
    config: configFile,
    listeners: handles[0]?.listeners ?? [],
    connections: sum("connections"),
    waiting: sum("waiting"),
    active_sessions: sum("active_sessions"),
    bytes_relayed: sum("bytes_relayed"),
    routes: config.routes.length,
    draining: statuses.some((s) => s?.["draining"] === true),
    last_reload: lastReload ?? statuses[0]?.["last_reload"] ?? null,
    log_file: statuses[0]?.["log_file"] ?? null,
    cluster: null,
    workers: statuses.map((s, i) => ({ worker: i + 1, ...s })),
  };
}

/**
 * A worker: tells the primary when it is ready (or why not), then answers its requests. The
 * relay process itself is started by the caller (daemon/daemon-process.ts), which passes its handlers.
 */
export function serveAsWorker(handlers: Record<Command, (arg?: string) => unknown>): void {
  process.on("message", (m: Request) => {
    if (m?.frelay !== "req") return;
    void Promise.resolve()
      .then(() => handlers[m.cmd](m.arg))
      .catch((err: unknown) => ({ error: describe(err) }))
      .then((result) => process.send?.({ frelay: "reply", id: m.id, result } satisfies Reply));
  });
}

export function reportWorkerReady(listeners: string[]): void {
  process.send?.({ frelay: "ready", listeners } satisfies Ready);
}

export function reportWorkerFailed(err: unknown): void {
  process.send?.({ frelay: "failed", error: describe(err), details: [...((err as FrelayError).details ?? [])] } satisfies Failed);
}
