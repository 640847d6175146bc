/** The relay's listeners and config application: the pairing core, the direct, fronting, HTTP/2 and metrics listeners, and each new config applied to them. */
import type { AddressInfo } from "node:net";
import { formatHostPort } from "../config/address";
import type { RelayConfig } from "../config/load";
import { describe } from "../errors";
import type { Logger } from "../log/logger";
import { chooseDataPath } from "../datapath/data-path";
import { nativePipeShortages } from "../datapath/native-splice";
import { logPipeShortages } from "./pipe-shortage-log";
import { PairingCore } from "../relay/pairing-core";
import { DirectListener } from "../transport/direct-listener";
import { FrontingListener } from "../transport/fronting-listener";
import { setSocketAccess } from "../transport/unix-socket";
import { directRouting, H2Endpoint } from "../transport/h2-endpoint";
import { MetricsServer, RelayMetrics } from "./metrics";
import { CrlMonitor } from "./crl-monitor";
import { memoryBinding, MemoryTrimmer } from "./memory-trim";
import type { ClusterNode } from "../cluster/cluster-node";
import { clusterChangeNotice, joinCluster } from "../cluster/wiring";
import { buildState, type RelayState } from "./state";

/** At stop, the most the waiting parties' 503s may take to leave (each lingers at most 2 s). */
const REFUSALS_OUT_MS = 3000;

/**
 * One running relay: the pairing core, its listeners, and the current state. The daemon, the
 * foreground command and the tests all use this; it touches no pidfile, socket or signal.
 */
export class RelayHost {
  private state: RelayState;
  readonly relay: PairingCore;
  private direct: DirectListener;
  /** HTTP/2 over the direct listener's TLS (ALPN h2); outlives listener rebinds. */
  private readonly directH2: H2Endpoint;
  private fronting: FrontingListener | undefined;
  readonly metrics: RelayMetrics;
  private metricsServer: MetricsServer | undefined;
  readonly startedAt = Date.now();
  readonly crl: CrlMonitor;
  /** Returns the C heap's free pages to the kernel after sessions end (see memory-trim.ts). */
  readonly memory = new MemoryTrimmer();
  /** Present when config.json has a `cluster` section; fixed until restart. */
  readonly cluster: ClusterNode | undefined;

  constructor(private readonly startConfig: RelayConfig, private readonly log: Logger) {
    const config = startConfig;
    this.state = buildState(config);
    this.relay = new PairingCore(this.state.policy, log.child("relay"));
    this.relay.sessions.dataPath = chooseDataPath(config.nativeSplice);
    this.metrics = new RelayMetrics(this.relay, () => this.connectionCount);
    this.directH2 = new H2Endpoint(this.relay, log.child("h2"), () => directRouting(() => this.state.transport.isRevoked), () => this.state.transport.h2);
    this.direct = this.newDirectListener();
    this.crl = new CrlMonitor(() => this.state.config, log.child("pki"));
    this.metrics.gauge("frelay_crl_next_update_timestamp_seconds", "nextUpdate of the loaded CRL, Unix time (0: no CRL); renew before it", () => this.crl.nextUpdateSeconds());
    this.cluster = joinCluster(config, this.relay, () => this.state.policy.pairMs, log.child("cluster"), this.metrics.registry, () => ({ open: this.connectionCount, max: this.state.transport.maxConnections }));
    this.logRelayEvents();
    logPipeShortages(log.child("relay"));
    this.metrics.counter("frelay_splice_pipe_shortages_total", "Session directions the native engine copied through a buffer for want of a pipe (open-file limit reached)", nativePipeShortages);
    this.relay.on("closed", () => this.memory.sessionClosed());
    if (this.memory.available) this.metrics.counter("frelay_memory_trims_total", "Times the relay returned free C-heap memory to the kernel (malloc_trim) after sessions ended", () => this.memory.trims);
    // What malloc holds, to tell a leak (in use grows) from fragmentation (free grows) in the C heap.
    const native = memoryBinding();
    if (native?.mallocStats()) {
      this.metrics.gauge("frelay_malloc_in_use_bytes", "Bytes of C heap (glibc malloc) in use", () => native.mallocStats()?.inUse ?? 0);
      this.metrics.gauge("frelay_malloc_free_bytes", "Bytes of C heap glibc holds free (resident or not)", () => native.mallocStats()?.free ?? 0);
    }
  }

  private newDirectListener(): DirectListener {
    return new DirectListener(this.relay, () => this.state.transport, this.log.child("transport"), this.directH2, () => (this.fronting?.connectionCount ?? 0) + this.heldByCluster);
  }

  /** Binds fronting.address if configured; the listener it replaces (if any) is returned, still open. */
  private async bindFronting(config: RelayConfig): Promise<FrontingListener | undefined> {
    const old = this.fronting;
    if (!config.fronting) {
      this.fronting = undefined;
      return old;
    }
    const listener = new FrontingListener(this.relay, () => this.state.transport, this.log.child("fronting"), () => this.direct.connectionCount + this.heldByCluster);
    const { socketMode: mode, socketGroup: group } = config.fronting;
    const bound = await listener.listen(config.fronting.address, { mode, ...(group !== undefined ? { group } : {}) });
    this.fronting = listener;
    this.log.info("listen", { transport: "h2c", address: bound });
    return old;
  }

  /** Binds metrics.address if configured; the server it replaces (if any) is returned, still open. */
  private async bindMetrics(config: RelayConfig): Promise<MetricsServer | undefined> {
    const old = this.metricsServer;
    if (!config.metrics) {
      this.metricsServer = undefined;
      return old;
    }
    const server = new MetricsServer(this.metrics, () => !this.relay.isDraining && this.direct.address() !== null, this.log.child("metrics"));
    await server.listen(config.metrics.address);
    this.metricsServer = server;
    this.log.info("listen", { transport: "metrics", address: server.address() });
    return old;
  }

  get config(): RelayConfig {
    return this.state.config;
  }

  async listen(): Promise<AddressInfo> {
    const { host, port } = this.state.config.address;
    const addr = await this.direct.listen(host, port);
    this.log.info("listen", { transport: "stream", address: formatHostPort(addr.address, addr.port) });
    this.logDataPath();
    try {
      await this.bindFronting(this.state.config);
      await this.bindMetrics(this.state.config);
      await this.cluster?.start();
    } catch (err) {
      this.direct.stopAccepting();
      this.fronting?.stopAccepting();
      throw err;
    }
    this.crl.start();
    return addr;
  }

  address(): AddressInfo | null {
    return this.direct.address();
  }

  /** ["stream 127.0.0.1:6000", "metrics 127.0.0.1:9464"]: what status shows. */
  listenerAddresses(): string[] {
    const a = this.direct.address();
    const out = [`stream ${a ? formatHostPort(a.address, a.port) : this.state.config.address.text}`];
    if (this.fronting) out.push(`h2c ${this.fronting.bound}`);
    if (this.metricsServer) out.push(`metrics ${this.metricsServer.address()}`);
    return out;
  }

  /** Every party connection this process holds, against limits.max_connections. */
  get connectionCount(): number {
    return this.direct.connectionCount + (this.fronting?.connectionCount ?? 0) + this.heldByCluster;
  }

  /** Party connections a sibling worker handed over (no listener of this process accepted them). */
  private get heldByCluster(): number {
    return this.cluster?.heldConnections ?? 0;
  }

  /**
   * Swaps in a config that is already fully loaded. Builds the new state first; a failure leaves
   * the old one in force. A changed address is bound before the old listener closes.
   */
  async apply(config: RelayConfig): Promise<{ closedSessions: number; closedWaiting: number }> {
    const next = buildState(config);
    const prev = this.state;
    const rebind = prev.config.address.text !== config.address.text;
    let oldListener: DirectListener | undefined;
    if (rebind) {
      const listener = this.newDirectListener();
      const addr = await listener.listen(config.address.host, config.address.port);
      this.log.info("listen", { transport: "stream", address: formatHostPort(addr.address, addr.port) });
      oldListener = this.direct;
      this.direct = listener;
    }
    let oldMetrics: MetricsServer | undefined;
    let oldFronting: FrontingListener | undefined;
    const frontingChanged = prev.config.fronting?.address.text !== config.fronting?.address.text;
    const keptFronting = this.fronting;
    try {
      if (frontingChanged) oldFronting = await this.bindFronting(config);
      const f = config.fronting;
      // Same socket, new mode or group: applied to the socket file in place.
      if (!frontingChanged && f?.address.kind === "unix" && (f.socketMode !== prev.config.fronting?.socketMode || f.socketGroup !== prev.config.fronting?.socketGroup)) {
        setSocketAccess(f.address.path, { mode: f.socketMode, ...(f.socketGroup !== undefined ? { group: f.socketGroup } : {}) }, "fronting.address");
      }
      if (prev.config.metrics?.address.text !== config.metrics?.address.text) oldMetrics = await this.bindMetrics(config);
    } catch (err) {
      // Undo the rebinds: the old state stays in force whole.
      if (oldListener) {
        this.direct.stopAccepting();
        this.direct = oldListener;
      }
      if (frontingChanged) {
        this.fronting?.stopAccepting();
        this.fronting = keptFronting;
      }
      throw err;
    }
    this.state = next;
    const path = chooseDataPath(config.nativeSplice);
    const pathChanged = path.path !== this.relay.sessions.dataPath.path;
    this.relay.sessions.dataPath = path; // for new sessions; running ones stay where they are
    if (pathChanged) this.logDataPath();
    const closed = this.relay.setPolicy(next.policy);
    // An HTTP/2 connection of a now-revoked identity would otherwise live on: close it.
    this.directH2.closeSessions((o) => o.peer.ok && next.transport.isRevoked(o.peer.serial), "certificate revoked");
    if (next.config.tls.crlPem !== prev.config.tls.crlPem) this.crl.check();
    oldListener?.stopAccepting();
    oldFronting?.stopAccepting();
    await oldMetrics?.close();
    return closed;
  }

  /** What a reload to `config` leaves for a restart (cluster settings are fixed at start), if anything. */
  clusterNotice(config: RelayConfig): string | undefined {
    return clusterChangeNotice(this.startConfig, config);
  }

  /** Stops accepting, refuses waiting parties, lets sessions drain, then closes what is left. */
  async stop(drainMs: number): Promise<void> {
    this.crl.stop();
    this.memory.stop();
    const refused = this.relay.startDraining();
    await this.cluster?.leave();
    this.direct.stopAccepting();
    this.fronting?.stopAccepting();
    const deadline = Date.now() + drainMs;
    while (this.relay.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    this.relay.sessions.closeWhere(() => true, "relay stopped");
    // The waiting parties' 503s must be out before their connections are cut (each is bounded
    // by its refusal's linger; the timer bounds the lot).
    await Promise.race([refused, new Promise((r) => setTimeout(r, REFUSALS_OUT_MS).unref())]);
    this.direct.destroyAll();
    this.directH2.destroyAll();
    this.fronting?.destroyAll();
    this.relay.refusals.flush();
    this.cluster?.close();
    await this.metricsServer?.close();
  }

  /** One line saying which path moves paired TCP sessions; a warning when native is missing. */
  private logDataPath(): void {
    const { path, reason, forced } = this.relay.sessions.dataPath;
    if (path === "native") this.log.info("data_path", { path, detail: "paired TCP sessions move by splice(2) in the native engine" });
    else if (forced) this.log.info("data_path", { path, reason, detail: "paired TCP sessions move in JavaScript" });
    else this.log.warn("data_path", { path, reason, detail: `native splice(2) path unavailable: ${reason}; paired TCP sessions move in JavaScript, at about twice the CPU per byte` });
  }

  private logRelayEvents(): void {
    const log = this.log.child("relay");
    this.relay.on("waiting", (r) => log.info("waiting", { identity: r.identity, dest: r.dest, tag: r.tag, remote: r.remote }));
    this.relay.on("paired", (a, b, route, waitedMs) => log.info("paired", { a: a.identity, b: b.identity, tag: a.tag, route, waited_ms: waitedMs }));
    this.relay.on("closed", ({ session: s, how, reason, error }) =>
      log.info("closed", {
        session: s.id,
        a: s.a.identity,
        b: s.b.identity,
        tag: s.a.tag,
        route: s.route,
        bytes_a_to_b: s.splice.stats.aToB,
        bytes_b_to_a: s.splice.stats.bToA,
        duration_ms: Date.now() - s.startedAt,
        how,
        ...(reason ? { reason } : {}),
        ...(error ? { error: describe(error) } : {}),
      }),
    );
  }
}
