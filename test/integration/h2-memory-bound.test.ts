import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import type { Fixture } from "../helpers/fixture";
import { freePort, suiteRelay, type RunningRelay } from "../helpers/cli";
import { floodNonReadingPeers, type H2Flood } from "../helpers/h2-flood";
import { sample, scrapeMetrics } from "../helpers/metrics";
import { rssMiB } from "../helpers/process-stats";

const MiB = 2 ** 20;
/** The default limits.h2_connection_buffer_mib. */
const BUDGET = 16 * MiB;
/** More streams than the relay allows on one connection by default; old relays took them all. */
const STREAMS = 64;

/**
 * One authenticated HTTP/2 connection cannot make the relay hold unbounded memory by pairing its
 * streams with peers that never read: whatever the number of streams, the relay holds at most
 * its per-connection budget (limits.h2_connection_buffer_mib, 16 MiB by default), in either
 * direction. Measured on a real relay process: its RSS and the external (Buffer) memory its
 * metrics report. (Before the budget, 64 such streams pinned about 150 MiB.)
 */
describe("HTTP/2: one connection's buffering is bounded, whatever its streams and peers do", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  let metricsPort: number;
  let flood: H2Flood | undefined;
  before(async () => {
    metricsPort = await freePort();
    ({ fx, relay, close } = await suiteRelay({
      routes: [{ between: ["0.user1", "1.user1"] }],
      timeouts: { handshake: "10s", pair: "30s", idle: "0s", drain: "1s" },
      metrics: { address: `127.0.0.1:${metricsPort}` },
    }));
  });
  after(async () => {
    flood?.close();
    await close();
  });

  it(`${STREAMS} streams pushing into peers that never read (and peers pushing into them) pin at most the budget`, { timeout: 180_000 }, async (t) => {
    const pid = relay.proc.pid!;
    const baseline = rssMiB(pid);
    const h2 = fx.party("0.user1", "1.user1", relay.address);
    const raw = fx.party("1.user1", "0.user1", relay.address);
    flood = await floodNonReadingPeers(h2, raw, STREAMS, { waiting: (tag) => relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag, 60_000) });
    const { initialWindowSize, maxConcurrentStreams } = flood.offered;
    const metrics = await scrapeMetrics(metricsPort);
    const externalMiB = sample(metrics, "frelay_process_nodejs_external_memory_bytes") / MiB;
    const rssGrowthMiB = rssMiB(pid) - baseline;
    t.diagnostic(`offered window ${initialWindowSize / 1024} KiB × ${maxConcurrentStreams} streams; ${flood.paired} paired; ${(flood.pushed() / MiB).toFixed(0)} MiB written by the parties before they stalled`);
    t.diagnostic(`relay: RSS +${rssGrowthMiB.toFixed(1)} MiB over its idle ${baseline.toFixed(1)} MiB; external memory ${externalMiB.toFixed(1)} MiB`);
    // Memory, with room for TLS, the 64 peer connections and garbage not yet collected; the
    // relay before the budget was at about +150 MiB RSS and 144 MiB external here.
    assert.ok(externalMiB < 48, `the relay holds ${externalMiB.toFixed(1)} MiB of external memory (budget ${BUDGET / MiB} MiB)`);
    assert.ok(rssGrowthMiB < 96, `the relay's RSS grew by ${rssGrowthMiB.toFixed(1)} MiB`);
    // The SETTINGS themselves: what one connection may send ahead is within the budget.
    assert.ok(initialWindowSize * maxConcurrentStreams <= BUDGET, `the relay lets one connection send ${((initialWindowSize * maxConcurrentStreams) / MiB).toFixed(0)} MiB ahead (window ${initialWindowSize} × ${maxConcurrentStreams} streams), over the ${BUDGET / MiB} MiB budget`);
  });
});
