/** The running relay's watch on its CRL's dates: a warning from 30 days before nextUpdate, at start, after reloads and every few hours. */
import type { RelayConfig } from "../config/load";
import type { Logger } from "../log/logger";
import { crlFreshness, type CrlFreshness } from "../pki/crl-freshness";

/** How often a long-running relay looks at its CRL's dates again. */
const CHECK_EVERY_MS = 6 * 3600_000;

/**
 * Warns, from 30 days before the CRL's nextUpdate, that it needs `frelay cert crl renew`: at
 * start, after each reload and every few hours. The relay keeps enforcing the CRL's entries
 * either way; the warning is for the operator (and for fronts that check the CRL's dates).
 */
export class CrlMonitor {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly config: () => RelayConfig, private readonly log: Logger) {}

  /** The current CRL's freshness; undefined without tls.crl. */
  freshness(): CrlFreshness | undefined {
    const { crl } = this.config().tls;
    return crl ? crlFreshness(crl) : undefined;
  }

  /** Logs a warning unless the CRL is fine. */
  check(): void {
    const f = this.freshness();
    const file = this.config().tls.paths.crl;
    if (f && f.state !== "ok") {
      this.log.warn(`crl_${f.state}`, { crl: file, next_update: f.nextUpdate ?? null, days_left: f.daysLeft ?? null, message: `tls.crl ${file}: ${f.text}` });
    }
  }

  start(): void {
    this.check();
    this.timer ??= setInterval(() => this.check(), CHECK_EVERY_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** For /metrics: nextUpdate as Unix seconds, 0 when there is no CRL or it has none. */
  nextUpdateSeconds(): number {
    const next = this.config().tls.crl?.nextUpdate;
    return next ? Math.floor(Date.parse(next) / 1000) : 0;
  }
}
