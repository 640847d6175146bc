/** The daemon commands `frelay start`, `stop`, `status` and `reload`: the control socket first, the pidfile and signals as the fallback. */
import { spawn } from "node:child_process";
import { LOG_FILE_MODE, LOG_OPEN_FLAGS, type LogFileHealth } from "../log/file-sink";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadConfig, readDaemonPaths } from "../config/load";
import { controlRequest } from "../daemon/control-client";
import { isSameProcess, readPidfile, removePidfile } from "../daemon/pidfile";
import { runDaemonProcess } from "../daemon/daemon-process";
import { DaemonError, FileError, FrelayError, UsageError, describe, type FrelayErrorCode } from "../errors";
import type { Output } from "./output";
import type { ClusterStatus } from "../cluster/cluster-node";
import { clusterStatusLines, workerStatusLines, type WorkerStatusEntry } from "./cluster-commands";
import type { AcceptMode } from "../cluster/workers";
import { workerCount } from "../cluster/workers";

const BIN = path.join(__dirname, "..", "..", "..", "bin", "frelay.js");
const START_TIMEOUT_MS = 15_000;

type ChildMessage =
  | { ready: true; pid: number; listeners: string[]; warnings: string[] }
  | { ready: false; error: string; details?: string[]; code?: FrelayErrorCode };

/** `frelay start`: foreground, or a detached child that reports ready only once it is listening. */
export async function cmdStart(configFile: string, opts: { fg?: boolean; daemonChild?: boolean; worker?: boolean; workers?: string }, io: Output): Promise<number> {
  const workers = parseWorkers(opts.workers);
  if (opts.worker) return runDaemonProcess(configFile, { stdout: false });
  if (opts.daemonChild) return runDaemonChild(configFile, workers);
  if (opts.fg) {
    return runDaemonProcess(configFile, {
      ...(workers ? { workers } : {}),
      stdout: true,
      onReady: ({ listeners, warnings }) => {
        for (const w of warnings) io.err(`frelay: warning: ${w}`);
        io.err(`frelay: listening on ${listeners.join(", ")} (config ${configFile}); Ctrl-C stops`);
      },
    });
  }
  const config = loadConfig(configFile); // every config error now, in this terminal
  workerCount(config, workers);
  const pid = readPidfile(config.pidfile);
  if (pid.kind === "running") throw new DaemonError("FRELAY_ERR_RUNNING", `frelay is already running (pid ${pid.pid}); stop it first with "frelay stop"`);
  // The child's own stderr (a crash before the logger exists) goes to the log file too.
  let logFd: number;
  try {
    logFd = fs.openSync(config.log.file, LOG_OPEN_FLAGS, LOG_FILE_MODE);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") {
      throw new FileError("FRELAY_ERR_FILE", `log.file ${config.log.file} is a symbolic link, which frelay does not follow: point log.file at the real file`);
    }
    throw new FileError("FRELAY_ERR_FILE", `log.file ${config.log.file} cannot be opened (${(err as NodeJS.ErrnoException).code ?? describe(err)}): point log.file at a writable file, or fix the folder's permissions`);
  }
  const child = spawn(process.execPath, [BIN, "start", "--daemon-child", ...(workers ? ["--workers", String(workers)] : []), "-c", configFile], {
    detached: true,
    stdio: ["ignore", logFd, logFd, "ipc"],
  });
  fs.closeSync(logFd);
  const msg = await new Promise<ChildMessage>((resolve) => {
    const timer = setTimeout(() => resolve({ ready: false, error: `the relay did not report ready within ${START_TIMEOUT_MS / 1000}s (see ${config.log.file})` }), START_TIMEOUT_MS);
    child.once("message", (m: ChildMessage) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ ready: false, error: `the relay exited during start-up with code ${code} (see ${config.log.file})` });
    });
  });
  if (child.connected) child.disconnect();
  child.unref();
  if (!msg.ready) {
    if (child.exitCode === null && child.pid) process.kill(child.pid, "SIGKILL");
    // The child's own code when it had one (a config or file error), else: it did not come up.
    throw new FrelayError(msg.code ?? "FRELAY_ERR_LISTEN", msg.error, msg.details ?? []);
  }
  for (const w of msg.warnings) io.err(`frelay: warning: ${w}`);
  io.out(`frelay started (pid ${msg.pid}), listening on ${msg.listeners.join(", ")}`);
  return 0;
}

/** The detached child: runs the daemon process and tells the parent "ready" or why not, over IPC. */
function parseWorkers(flag: string | undefined): number | undefined {
  if (flag === undefined) return undefined;
  const n = Number(flag);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new UsageError(`--workers ${flag} is not a number of processes (use 1 to 256)`);
  return n;
}

async function runDaemonChild(configFile: string, workers: number | undefined): Promise<number> {
  const send = (m: ChildMessage) => {
    if (process.send) process.send(m, () => process.connected && process.disconnect());
  };
  try {
    return await runDaemonProcess(configFile, {
      ...(workers ? { workers } : {}),
      stdout: false,
      onReady: ({ pid, listeners, warnings }) => send({ ready: true, pid, listeners, warnings }),
    });
  } catch (err) {
    const coded = err instanceof FrelayError ? { code: err.code, details: [...err.details] } : {};
    send({ ready: false, error: describe(err), ...coded });
    return 1;
  }
}

/** `frelay stop`: graceful (the daemon drains), waits for the process to exit and its pidfile to go. */
export async function cmdStop(configFile: string, io: Output): Promise<number> {
  const paths = readDaemonPaths(configFile);
  const pid = readPidfile(paths.pidfile);
  if (pid.kind === "none") {
    io.out("frelay is not running");
    return 0;
  }
  if (pid.kind === "stale") {
    fs.rmSync(paths.pidfile, { force: true });
    io.out(`frelay is not running (removed stale pidfile ${paths.pidfile} naming pid ${pid.pid}: ${pid.why})`);
    return 0;
  }
  let drainMs = 30_000;
  try {
    drainMs = loadConfig(configFile).timeouts.drainMs;
  } catch {
    // a broken config must not prevent stopping
  }
  // Every signal below goes only to the process the pidfile recorded, re-checked just before:
  // a PID reused by another process since is never signalled.
  const ours = () => isSameProcess(pid.pid, pid.startTime);
  try {
    await controlRequest(paths.controlSocket, "POST", "/stop", 5000);
  } catch {
    if (ours()) process.kill(pid.pid, "SIGTERM"); // the control socket is gone or hung: signals are the fallback
  }
  const deadline = Date.now() + drainMs + 15_000;
  while (ours() && Date.now() < deadline) await sleep(100);
  if (ours()) {
    process.kill(pid.pid, "SIGKILL");
    removePidfile(paths.pidfile, pid.pid);
    throw new DaemonError("FRELAY_ERR_STOP_TIMEOUT", `frelay (pid ${pid.pid}) did not stop within ${Math.round((drainMs + 15_000) / 1000)}s and was killed (its log says what it was still doing; sessions longer than timeouts.drain are cut)`);
  }
  removePidfile(paths.pidfile, pid.pid);
  io.out(`frelay stopped (pid ${pid.pid})`);
  return 0;
}

/** LSB exit codes: 0 running, 1 dead but pidfile exists, 3 not running, 4 unknown. */
export async function cmdStatus(configFile: string, opts: { json?: boolean }, io: Output): Promise<number> {
  const paths = readDaemonPaths(configFile);
  const pid = readPidfile(paths.pidfile);
  const report = (code: number, state: string, text: string, extra: Record<string, unknown> = {}) => {
    io.out(opts.json ? JSON.stringify({ state, ...extra }) : text);
    return code;
  };
  if (pid.kind === "none") return report(3, "stopped", "frelay is not running");
  if (pid.kind === "stale") {
    return report(1, "dead", `frelay is not running, but pidfile ${paths.pidfile} names pid ${pid.pid} (stale: ${pid.why}; "frelay start" replaces it)`, { pid: pid.pid, stale: pid.why });
  }
  let status: Record<string, unknown>;
  try {
    const r = await controlRequest(paths.controlSocket, "GET", "/status", 5000);
    status = r.body as Record<string, unknown>;
  } catch (err) {
    return report(4, "unknown", `frelay is running (pid ${pid.pid}) but its control socket ${paths.controlSocket} does not answer: ${describe(err)}`, { pid: pid.pid });
  }
  if (opts.json) return report(0, "running", "", status);
  const reload = status["last_reload"] as { ok: boolean; message: string; at: string } | null;
  const log = status["log_file"] as ({ path: string } & LogFileHealth) | null;
  const crl = status["crl"] as { path: string; state: string; text: string } | null | undefined;
  io.out(
    [
      `frelay is running (pid ${String(status["pid"])}, version ${String(status["version"])}, up ${formatUptime(Number(status["uptime_s"]))})`,
      `  config:      ${String(status["config"])}`,
      `  listeners:   ${(status["listeners"] as string[]).join(", ")}`,
      `  waiting:     ${String(status["waiting"])}`,
      `  sessions:    ${String(status["active_sessions"])} active, ${String(status["connections"])} connections`,
      `  bytes:       ${String(status["bytes_relayed"])} relayed`,
      `  data path:   ${dataPathLine(status["data_path"] as { path: string; reason?: string } | undefined)}`,
      `  last reload: ${reload ? `${reload.ok ? reload.message : "FAILED, " + reload.message} at ${reload.at}` : "none"}`,
      ...((status["pending_restart"] as string[] | undefined) ?? []).map((p) => `  NEEDS RESTART: ${p}`),
      ...clusterStatusLines(status["cluster"] as ClusterStatus | null | undefined),
      ...workerStatusLines(status["workers"] as WorkerStatusEntry[] | undefined, status["accept"] as AcceptMode | undefined),
      `  log file:    ${!log ? "none" : log.ok ? `${log.path}, ok` : `${log.path}, CANNOT BE WRITTEN since ${log.since} (${log.error}); ${log.dropped} lines dropped`}`,
      `  crl:         ${!crl ? "none" : `${crl.path}: ${crl.state === "ok" ? "" : `${crl.state.toUpperCase().replace(/_/g, " ")}, `}${crl.text}`}`,
    ].join("\n"),
  );
  return 0;
}

function dataPathLine(p: { path: string; reason?: string } | undefined): string {
  if (!p) return "unknown";
  return p.path === "native" ? "native (splice(2))" : `JavaScript${p.reason ? ` (${p.reason})` : ""}`;
}

/** Asks the daemon to reload; prints `reloaded` or why the old config was kept. */
export async function cmdReload(configFile: string, io: Output): Promise<number> {
  const paths = readDaemonPaths(configFile);
  const pid = readPidfile(paths.pidfile);
  if (pid.kind !== "running") throw new DaemonError("FRELAY_ERR_NOT_RUNNING", `frelay is not running, nothing to reload (start it with "frelay start")`);
  let r: { status: number; body: unknown };
  try {
    r = await controlRequest(paths.controlSocket, "POST", "/reload", 30_000);
  } catch {
    if (!isSameProcess(pid.pid, pid.startTime)) throw new DaemonError("FRELAY_ERR_NOT_RUNNING", `frelay (pid ${pid.pid}) exited while asked to reload`);
    process.kill(pid.pid, "SIGHUP");
    io.out(`reload requested with SIGHUP (the control socket did not answer); the result is in the log`);
    return 0;
  }
  const body = r.body as { ok?: boolean; message?: string; pendingRestart?: string[] };
  if (body.ok) {
    io.out("reloaded");
    for (const p of body.pendingRestart ?? []) io.err(`frelay: warning: not applied, needs a restart: ${p}`);
    return 0;
  }
  throw new DaemonError("FRELAY_ERR_RELOAD_FAILED", body.message ?? `reload failed (HTTP ${r.status})`);
}

function formatUptime(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${s % 60}s` : `${s}s`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
