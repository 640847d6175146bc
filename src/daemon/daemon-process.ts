/** The relay as a daemon process: the pidfile, control socket, config watcher and signals around one ProcessLifecycle, from start to exit. */
import { loadConfig } from "../config/load";
import { clusterStartWarning } from "../cluster/wiring";
import { DaemonError, describe } from "../errors";
import { VERSION } from "../version";
import type { RelayConfig } from "../config/load";
import type { Logger } from "../log/logger";
import { ControlServer, type ControlHandlers } from "./control-server";
import { ProcessLifecycle } from "./process-lifecycle";
import { openFileLimit, watchOpenFiles } from "./limits";
import { nativePipeShortages } from "../datapath/native-splice";
import { readPidfile, removePidfile, writePidfile } from "./pidfile";
import { ConfigWatcher } from "./watch";
import { configForWorker, reportWorkerFailed, reportWorkerReady, runPrimary, serveAsWorker, workerCount, workerIndex } from "../cluster/workers";

export interface DaemonProcessOptions {
  /** Also log to stdout (start --fg). */
  stdout: boolean;
  /** Told once the listeners, control socket and pidfile are in place (the daemon's parent waits for it). */
  onReady?: (info: { pid: number; listeners: string[]; warnings: string[] }) => void;
  /** `start --workers N`: overrides cluster.workers. */
  workers?: number;
}

/**
 * Runs the relay as a daemon process: its process lifecycle plus pidfile, control socket, config
 * watcher and signals. `start --fg` runs this directly; `start` runs it in a detached child.
 * Resolves with the exit code once stopped.
 */
export async function runDaemonProcess(configFile: string, opts: DaemonProcessOptions): Promise<number> {
  const initial = loadConfig(configFile);
  const worker = workerIndex();
  if (worker !== undefined) return runWorker(configFile, worker);
  const workers = workerCount(initial, opts.workers);
  if (workers > 1) return runPrimary(configFile, workers, opts);
  const pid = readPidfile(initial.pidfile);
  if (pid.kind === "running" && pid.pid !== process.pid) {
    throw new DaemonError("FRELAY_ERR_RUNNING", `frelay is already running (pid ${pid.pid}, pidfile ${initial.pidfile}); stop it first with "frelay stop"`);
  }
  // A daemon's stdout and stderr are its log file: a full disk there must not stop the relay
  // (an unhandled write error on them would). The log's own trouble is reported by FileSink.
  for (const s of [process.stdout, process.stderr]) s.on("error", () => undefined);

  // Signals are handled from before anything is written: a SIGTERM between the pidfile's
  // creation and the handlers would otherwise kill the relay and leave its pidfile behind.
  let proc: ProcessLifecycle | undefined;
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  const onSignal = {
    SIGTERM: () => stopRequested(),
    SIGINT: () => stopRequested(),
    SIGHUP: () => void proc?.reload(),
    // Also keeps Node from opening its inspector on SIGUSR1.
    SIGUSR1: () => proc?.logs.reopen(),
  } as const;
  for (const [sig, fn] of Object.entries(onSignal)) process.on(sig, fn);
  // A bug that escapes everything: its stack goes to the current log file (the stderr a daemon
  // was started with may be a rotated file) before Node's default handling exits non-zero, so
  // that systemd's Restart=on-failure brings the relay back.
  const onCrash = (err: Error, origin: string) => proc?.logs.lastWords("uncaught_exception", { origin, error: String(err?.message ?? err), stack: String(err?.stack ?? "") });
  process.on("uncaughtExceptionMonitor", onCrash);
  const unhook = () => {
    for (const [sig, fn] of Object.entries(onSignal)) process.off(sig, fn);
    process.off("uncaughtExceptionMonitor", onCrash);
  };

  try {
    proc = await ProcessLifecycle.start(configFile, { stdout: opts.stdout });
  } catch (err) {
    unhook();
    throw err;
  }
  const running = proc;
  const log = running.logs.logger;
  const handlers: ControlHandlers = {
    status: () => statusOf(running),
    sessions: () => running.server.relay.sessions.list(),
    reload: () => running.reload(),
    closeSession: (id) => running.server.relay.sessions.close(id, "closed by operator"),
    stop: () => stopRequested(),
    configFile: () => running.config.file,
  };
  // The files this process owns now: a reload may move them (see DaemonFiles).
  const files = new DaemonFiles(running, handlers, log);
  try {
    await files.start();
  } catch (err) {
    unhook();
    await running.stop();
    throw err;
  }
  running.applyDaemonFiles = (next, prev) => files.apply(next, prev);

  const watcher = new ConfigWatcher(() => running.config.watchedFiles, () => void running.reload(), log.child("watch"));
  // Ready means an edit made from now on is seen: wait for the watcher's initial scan.
  await Promise.race([watcher.ready(), new Promise((r) => setTimeout(r, 5000).unref())]);
  const stopWatchingFiles = watchOpenFiles(log.child("limits"));
  const warnings = [fileLimitWarning(running), clusterStartWarning(running.config, running.server.cluster)].filter((w): w is string => w !== undefined);

  const listeners = running.server.listenerAddresses();
  log.info("ready", { pid: process.pid, version: VERSION, listeners });
  opts.onReady?.({ pid: process.pid, listeners, warnings });

  await stopped;
  stopWatchingFiles();
  await watcher.close();
  await files.closeControl();
  await running.stop();
  files.removePidfile();
  unhook();
  return 0;
}

/**
 * The pidfile and control socket of a running relay, where they are now. A reload that names
 * new paths moves them (new one first, then the old one goes), and the log file follows
 * log.file, so `frelay stop` and `status`, which read config.json, find the relay where the
 * file now says. A move that fails keeps the old place, and says so until a restart.
 */
class DaemonFiles {
  private pidfile: string;
  private controlSocket: string;
  private control: ControlServer;

  constructor(
    private readonly proc: ProcessLifecycle,
    private readonly handlers: ControlHandlers,
    private readonly log: Logger,
  ) {
    this.pidfile = proc.config.pidfile;
    this.controlSocket = proc.config.controlSocket;
    this.control = new ControlServer(this.controlSocket, handlers, log.child("control"));
  }

  async start(): Promise<void> {
    await this.control.listen(); // its error names control_socket and the fix
    writePidfile(this.pidfile);
  }

  async apply(next: RelayConfig, prev: RelayConfig): Promise<string[]> {
    const pending: string[] = [];
    if (next.controlSocket !== this.controlSocket) {
      const moved = new ControlServer(next.controlSocket, this.handlers, this.log.child("control"));
      try {
        await moved.listen();
        const old = this.control;
        [this.control, this.controlSocket] = [moved, next.controlSocket];
        // Gently: the reload that moved it may be answering on the old socket right now.
        void old.close({ graceful: true });
        this.log.info("control_socket_moved", { from: prev.controlSocket, to: next.controlSocket });
      } catch (err) {
        pending.push(`control_socket ${next.controlSocket} cannot be created (${describe(err)}); still answering on ${this.controlSocket}`);
      }
    }
    if (next.pidfile !== this.pidfile) {
      try {
        writePidfile(next.pidfile);
        removePidfile(this.pidfile);
        this.log.info("pidfile_moved", { from: this.pidfile, to: next.pidfile });
        this.pidfile = next.pidfile;
      } catch (err) {
        pending.push(`pidfile ${next.pidfile} cannot be written (${describe(err)}); still ${this.pidfile}`);
      }
    }
    if (next.log.file !== prev.log.file) {
      // The old file's last line says where the log continues, the new file's first where it came from.
      this.log.info("log_file_moved", { from: prev.log.file, to: next.log.file });
      this.proc.logs.switchFile(next.log.file);
      this.log.info("log_file_moved", { from: prev.log.file, to: next.log.file });
    }
    for (const p of pending) this.log.error("reload", { result: "needs_restart", detail: p });
    return pending;
  }

  closeControl(): Promise<void> {
    return this.control.close();
  }

  removePidfile(): void {
    removePidfile(this.pidfile);
  }
}

/**
 * One of `start --workers N`'s processes: a relay like any other, minus what the primary owns
 * (pidfile, control socket, watcher); it answers the primary's requests instead.
 */
async function runWorker(configFile: string, index: number): Promise<number> {
  for (const s of [process.stdout, process.stderr]) s.on("error", () => undefined);
  let proc: ProcessLifecycle;
  try {
    proc = await ProcessLifecycle.start(configFile, { stdout: process.env["FRELAY_WORKER_STDOUT"] === "1", adjust: (c) => configForWorker(c, index) });
  } catch (err) {
    reportWorkerFailed(err);
    return 1;
  }
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
  serveAsWorker({
    status: () => statusOf(proc),
    sessions: () => proc.server.relay.sessions.list(),
    reload: () => proc.reload(),
    closeSession: (id) => (id ? proc.server.relay.sessions.close(id, "closed by operator") : false),
    reopen: () => proc.logs.reopen(),
    stop: () => stopRequested(),
  });
  // The primary relays signals; these only cover a terminal's Ctrl-C reaching the whole group.
  const onSignal = { SIGTERM: () => stopRequested(), SIGINT: () => stopRequested(), SIGHUP: () => undefined, SIGUSR1: () => proc.logs.reopen() } as const;
  for (const [sig, fn] of Object.entries(onSignal)) process.on(sig, fn);
  // A primary that vanished (kill -9) leaves nobody to stop this worker: it stops by itself.
  process.on("disconnect", () => stopRequested());
  reportWorkerReady(proc.server.listenerAddresses());
  await stopped;
  await proc.stop();
  return 0;
}

function statusOf(proc: ProcessLifecycle): Record<string, unknown> {
  const relay = proc.server.relay;
  return {
    pid: process.pid,
    version: VERSION,
    started_at: new Date(proc.server.startedAt).toISOString(),
    uptime_s: Math.round((Date.now() - proc.server.startedAt) / 1000),
    config: proc.configFile,
    listeners: proc.server.listenerAddresses(),
    connections: proc.server.connectionCount,
    waiting: relay.waitingCount,
    active_sessions: relay.sessions.size,
    bytes_relayed: relay.sessions.totalBytes,
    data_path: {
      path: relay.sessions.dataPath.path,
      ...(relay.sessions.dataPath.reason ? { reason: relay.sessions.dataPath.reason } : {}),
      sessions: { native: relay.sessions.activeOn("native"), js: relay.sessions.activeOn("js") },
      pipe_shortages: nativePipeShortages(),
    },
    routes: proc.config.routes.length,
    draining: relay.isDraining,
    last_reload: proc.lastReload ?? null,
    pending_restart: proc.pendingRestart,
    crl: crlStatus(proc),
    log_file: proc.config.log.file ? { path: proc.config.log.file, ...proc.logs.health() } : null,
    cluster: proc.server.cluster?.status() ?? null,
  };
}

function crlStatus(proc: ProcessLifecycle): Record<string, unknown> | null {
  const f = proc.server.crl.freshness();
  return f ? { path: proc.config.tls.paths.crl, state: f.state, next_update: f.nextUpdate ?? null, days_left: f.daysLeft ?? null, text: f.text } : null;
}

/** One descriptor per party connection, plus a margin for listeners, control, logs and metrics. */
function fileLimitWarning(proc: ProcessLifecycle): string | undefined {
  const limit = openFileLimit();
  const needed = proc.config.limits.maxConnections + 64;
  if (limit === undefined || limit >= needed) return undefined;
  const msg = `open-file limit is ${limit}, below the ${needed} that limits.max_connections (${proc.config.limits.maxConnections}) needs; raise it (systemd LimitNOFILE=, ulimit -n) or lower max_connections`;
  proc.logs.logger.warn("fd_limit", { limit, needed, message: msg });
  return msg;
}
