import { loadConfig } from "../config/load";
import { DaemonError } from "../errors";
import { VERSION } from "../version";
import { ControlServer } from "./control-server";
import { RelayProcess } from "./lifecycle";
import { openFileLimit, watchOpenFiles } from "./limits";
import { readPidfile, removePidfile, writePidfile } from "./pidfile";
import { ConfigWatcher } from "./watch";

export interface ServiceOptions {
  /** Also log to stdout (start --fg). */
  stdout: boolean;
  /** Told once the listeners, control socket and pidfile are in place (the daemon's parent waits for it). */
  onReady?: (info: { pid: number; listeners: string[]; warnings: string[] }) => void;
}

/**
 * A relay as a managed service: the relay process plus pidfile, control socket, config watcher
 * and signals. `start --fg` runs this directly; `start` runs it in a detached child.
 * Resolves with the exit code once stopped.
 */
export async function runService(configFile: string, opts: ServiceOptions): Promise<number> {
  const initial = loadConfig(configFile);
  const pid = readPidfile(initial.pidfile);
  if (pid.kind === "running" && pid.pid !== process.pid) {
    throw new DaemonError("FRELAY_ERR_RUNNING", `frelay is already running (pid ${pid.pid}, pidfile ${initial.pidfile}); stop it first with "frelay stop"`);
  }
  // A daemon's stdout and stderr are its log file: a full disk there must not stop the relay
  // (an unhandled write error on them would). The log's own trouble is reported by FileSink.
  for (const s of [process.stdout, process.stderr]) s.on("error", () => undefined);
  const proc = await RelayProcess.start(configFile, { stdout: opts.stdout });
  const log = proc.logs.logger;
  let stopRequested: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stopRequested = resolve));

  const control = new ControlServer(
    proc.config.controlSocket,
    {
      status: () => statusOf(proc),
      sessions: () => proc.server.relay.sessions.list(),
      reload: () => proc.reload(),
      closeSession: (id) => proc.server.relay.sessions.close(id, "closed by operator"),
      stop: () => stopRequested(),
    },
    log.child("control"),
  );
  try {
    await control.listen();
  } catch (err) {
    await proc.stop();
    throw err; // already a DaemonError naming control_socket and the fix
  }
  writePidfile(proc.config.pidfile);

  const watcher = new ConfigWatcher(() => proc.config.watchedFiles, () => void proc.reload(), log.child("watch"));
  // Ready means an edit made from now on is seen: wait for the watcher's initial scan.
  await Promise.race([watcher.ready(), new Promise((r) => setTimeout(r, 5000).unref())]);
  const stopWatchingFiles = watchOpenFiles(log.child("limits"));
  const warnings = [fileLimitWarning(proc)].filter((w): w is string => w !== undefined);

  const onSignal = {
    SIGTERM: () => stopRequested(),
    SIGINT: () => stopRequested(),
    SIGHUP: () => void proc.reload(),
    // Also keeps Node from opening its inspector on SIGUSR1.
    SIGUSR1: () => proc.logs.reopen(),
  } as const;
  for (const [sig, fn] of Object.entries(onSignal)) process.on(sig, fn);

  const listeners = proc.server.listenerAddresses();
  log.info("ready", { pid: process.pid, version: VERSION, listeners });
  opts.onReady?.({ pid: process.pid, listeners, warnings });

  await stopped;
  stopWatchingFiles();
  for (const [sig, fn] of Object.entries(onSignal)) process.off(sig, fn);
  await watcher.close();
  await control.close();
  await proc.stop();
  removePidfile(proc.config.pidfile);
  return 0;
}

function statusOf(proc: RelayProcess): Record<string, unknown> {
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
    routes: proc.config.routes.length,
    draining: relay.isDraining,
    last_reload: proc.lastReload ?? null,
    log_file: proc.config.log.file ? { path: proc.config.log.file, ...proc.logs.health() } : null,
  };
}

/** One descriptor per party connection, plus a margin for listeners, control, logs and metrics. */
function fileLimitWarning(proc: RelayProcess): string | undefined {
  const limit = openFileLimit();
  const needed = proc.config.limits.maxConnections + 64;
  if (limit === undefined || limit >= needed) return undefined;
  const msg = `open-file limit is ${limit}, below the ${needed} that limits.max_connections (${proc.config.limits.maxConnections}) needs; raise it (systemd LimitNOFILE=, ulimit -n) or lower max_connections`;
  proc.logs.logger.warn("fd_limit", { limit, needed, message: msg });
  return msg;
}
