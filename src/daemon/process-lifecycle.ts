/** One relay process's lifecycle: starting its RelayHost with the logs, reloading (the new config whole, or the old one kept) and stopping with a drain. */
import { loadConfig, type RelayConfig } from "../config/load";
import { describe } from "../errors";
import { createLogger, type LoggerHandle } from "../log/logger";
import { RelayHost } from "./relay-host";

export interface ReloadResult {
  ok: boolean;
  /** "reloaded", "unchanged", or why the old config was kept. */
  message: string;
  at: string;
  /** Changed settings that could not be applied and wait for a restart (each names why). */
  pendingRestart?: string[];
}

/**
 * Applies what a reload changed outside the relay host (pidfile, control socket, log file);
 * returns, for each change it could not make, a sentence saying so. Wired by the daemon process.
 */
export type DaemonFilesHook = (next: RelayConfig, prev: RelayConfig) => Promise<string[]>;

/**
 * The lifecycle of one relay process: its host plus reload and stop, independent of how it was started
 * (foreground, daemon, systemd). Signals, pidfile and control socket are wired by callers.
 */
export class ProcessLifecycle {
  private reloading: Promise<ReloadResult> | undefined;
  private reloadQueued = false;
  lastReload: ReloadResult | undefined;
  private stopping: Promise<void> | undefined;
  /** Set by the daemon process, which owns the pidfile and the control socket. */
  applyDaemonFiles: DaemonFilesHook | undefined;
  /** What the last reloads could not apply, until a restart (or a reload that undoes the change). */
  pendingRestart: string[] = [];

  private constructor(
    readonly configFile: string,
    readonly server: RelayHost,
    readonly logs: LoggerHandle,
    private readonly adjust: (c: RelayConfig) => RelayConfig,
  ) {}

  /** `adjust`: how this process sees each loaded config (a worker's own node name and ports). */
  static async start(configFile: string, opts: { stdout: boolean; adjust?: (c: RelayConfig) => RelayConfig }): Promise<ProcessLifecycle> {
    const adjust = opts.adjust ?? ((c: RelayConfig) => c);
    const config = adjust(loadConfig(configFile));
    const logs = createLogger({ level: config.log.level, file: config.log.file, stdout: opts.stdout });
    const server = new RelayHost(config, logs.logger);
    try {
      await server.listen();
    } catch (err) {
      await logs.close();
      throw err;
    }
    return new ProcessLifecycle(configFile, server, logs, adjust);
  }

  get config(): RelayConfig {
    return this.server.config;
  }

  /**
   * Loads and applies the config file. Concurrent requests coalesce: one reload runs, and one
   * more runs after it if anything asked meanwhile, so the last change always wins.
   */
  reload(): Promise<ReloadResult> {
    if (this.reloading) {
      this.reloadQueued = true;
      return this.reloading;
    }
    this.reloading = this.reloadOnce().finally(() => {
      this.reloading = undefined;
      if (this.reloadQueued) {
        this.reloadQueued = false;
        void this.reload();
      }
    });
    return this.reloading;
  }

  private async reloadOnce(): Promise<ReloadResult> {
    const log = this.logs.logger;
    const at = new Date().toISOString();
    let result: ReloadResult;
    try {
      const next = this.adjust(loadConfig(this.configFile));
      if (next.fingerprint === this.config.fingerprint) {
        result = { ok: true, message: "unchanged", at };
        log.info("reload", { result: "unchanged" });
      } else {
        const prev = this.config;
        const closed = await this.server.apply(next);
        this.logs.setLevel(next.log.level);
        this.pendingRestart = [...((await this.applyDaemonFiles?.(next, prev)) ?? []), ...this.clusterPending(next)];
        const pending = this.pendingRestart;
        result = { ok: true, message: pending.length ? `reloaded; needs a restart: ${pending.join("; ")}` : "reloaded", at, ...(pending.length ? { pendingRestart: pending } : {}) };
        log.info("reload", { result: "reloaded", closed_sessions: closed.closedSessions, closed_waiting: closed.closedWaiting, routes: next.routes.length, ...(pending.length ? { pending_restart: pending } : {}) });
      }
    } catch (err) {
      const details = (err as { details?: readonly string[] }).details ?? [];
      const message = [describe(err), ...details].join("; ");
      result = { ok: false, message: `kept the old config: ${message}`, at };
      log.error("reload", { result: "failed", error: message });
    }
    if (result.message !== "unchanged" || !this.lastReload) this.lastReload = result;
    if (result.message !== "unchanged") this.server.metrics.reloaded(result.ok);
    return result;
  }

  /** Cluster settings are read only at start: a change to them waits for a restart. */
  private clusterPending(next: RelayConfig): string[] {
    const notice = this.server.clusterNotice(next);
    return notice ? [notice] : [];
  }

  stop(): Promise<void> {
    if (!this.stopping) {
      this.logs.logger.info("stopping", { drain_ms: this.config.timeouts.drainMs, sessions: this.server.relay.sessions.size });
      this.stopping = this.server.stop(this.config.timeouts.drainMs).then(async () => {
        this.logs.logger.info("stopped", {});
        await this.logs.close();
      });
    }
    return this.stopping;
  }
}
