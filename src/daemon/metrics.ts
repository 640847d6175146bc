import * as http from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { ListenAddress } from "../config/address";
import { describe } from "../errors";
import { bindServer, boundText } from "../transport/bind";
import type { Logger } from "../log/logger";
import type { PairingCore } from "../relay/pairing-core";

/**
 * Prometheus metrics for one relay. Labels are bounded: outcome and status code, route (as
 * written in config.json), reload result. Never per session or per identity.
 */
export class RelayMetrics {
  readonly registry = new Registry();
  private readonly connections: Counter<"outcome">;
  private readonly reloads: Counter<"result">;

  constructor(relay: PairingCore, openConnections: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: "frelay_process_" });
    this.connections = new Counter({ name: "frelay_connections_total", help: "Party connections by outcome (paired, refused_<code>, handshake_failed)", labelNames: ["outcome"], registers: [this.registry] });
    this.reloads = new Counter({ name: "frelay_reloads_total", help: "Config reloads by result", labelNames: ["result"], registers: [this.registry] });
    const pairing = new Histogram({
      name: "frelay_pairing_seconds",
      help: "Time the first party of a pair waited for its peer",
      labelNames: ["route"],
      buckets: [0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30, 120],
      registers: [this.registry],
    });
    const gauge = this.gauge.bind(this);
    gauge("frelay_waiting", "Parties waiting for their peer", () => relay.waitingCount);
    gauge("frelay_sessions_active", "Active relayed sessions", () => relay.sessions.size);
    gauge("frelay_connections_open", "Open TCP connections on the listeners", openConnections);
    const paths = ["native", "js"] as const;
    new Gauge({
      name: "frelay_data_path",
      help: "1 for the path paired TCP sessions take (native: splice(2) in the native engine; js: JavaScript), 0 for the other",
      labelNames: ["path"],
      registers: [this.registry],
      collect() {
        for (const p of paths) this.set({ path: p }, relay.sessions.dataPath.path === p ? 1 : 0);
      },
    });
    new Gauge({
      name: "frelay_sessions_active_by_path",
      help: "Active relayed sessions by the data path moving their bytes",
      labelNames: ["path"],
      registers: [this.registry],
      collect() {
        for (const p of paths) this.set({ path: p }, relay.sessions.activeOn(p));
      },
    });
    new Counter({
      name: "frelay_relayed_bytes_total",
      help: "Bytes relayed, both directions, all sessions",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(relay.sessions.totalBytes);
      },
    });
    relay.on("paired", (_a, _b, route, waitedMs) => {
      this.connections.inc({ outcome: "paired" }, 2);
      pairing.observe({ route }, waitedMs / 1000);
    });
    // Every refusal and failed handshake on every transport passes through relay.refusals.
    relay.refusals.on("refused", (_who, code) => this.connections.inc({ outcome: `refused_${code}` }));
    relay.refusals.on("handshakeFailed", () => this.connections.inc({ outcome: "handshake_failed" }));
  }

  /** A gauge read at each scrape. */
  gauge(name: string, help: string, read: () => number): void {
    new Gauge({ name, help, registers: [this.registry], collect() { this.set(read()); } });
  }

  /** A counter whose total is read at each scrape (`read` only ever grows). */
  counter(name: string, help: string, read: () => number): void {
    new Counter({ name, help, registers: [this.registry], collect() { this.reset(); this.inc(read()); } });
  }

  reloaded(ok: boolean): void {
    this.reloads.inc({ result: ok ? "reloaded" : "failed" });
  }
}

/** `metrics.address`: /metrics, /healthz (the process answers), /readyz (listening, not draining). */
export class MetricsServer {
  private readonly server: http.Server;

  constructor(metrics: RelayMetrics, ready: () => boolean, log: Logger) {
    this.server = http.createServer((req, res) => {
      req.resume();
      const path = (req.url ?? "/").split("?")[0];
      if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405).end();
      if (path === "/healthz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      if (path === "/readyz") {
        const ok = ready();
        return void res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : "not ready\n");
      }
      if (path === "/metrics") {
        metrics.registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(describe(err)),
        );
        return;
      }
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics, /healthz or /readyz\n");
    });
    this.server.on("error", (err) => log.error("metrics_error", { error: describe(err) }));
    this.server.requestTimeout = 10_000;
  }

  async listen(address: ListenAddress & { kind: "tcp" }): Promise<void> {
    // exclusive: each worker of `start --workers` serves its own metrics (its port is shifted).
    await bindServer(this.server, address, { setting: "metrics.address", exclusive: true });
  }

  address(): string {
    return boundText(this.server);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
