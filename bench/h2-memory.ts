/** The benchmark's HTTP/2 memory figure: what one connection's streams can make the relay hold while nobody reads. */
import { freePort } from "../test/helpers/cli";
import { floodNonReadingPeers } from "../test/helpers/h2-flood";
import { sample, scrapeMetrics } from "../test/helpers/metrics";
import { startBenchRelay } from "./frelay";
import { rssKb } from "./procstat";

export interface H2MemoryFigure {
  streams: number;
  paired: number;
  /** What the relay offered one connection: stream window × streams, MiB. */
  offeredMiB: number;
  rssGrowthMiB: number;
  externalMiB: number;
}

/**
 * What one HTTP/2 connection can pin in the relay: `streams` streams paired with
 * stream-protocol peers, both sides writing and neither reading, until every writer stalls.
 * A fresh relay of its own, so the growth is this connection's alone.
 */
export async function h2ConnectionMemory(streams: number): Promise<H2MemoryFigure> {
  const metricsPort = await freePort();
  const br = await startBenchRelay({ metrics: { address: `127.0.0.1:${metricsPort}` } });
  try {
    const baseKb = rssKb(br.pid);
    const flood = await floodNonReadingPeers(br.a, br.b, streams, { waiting: (tag) => br.relay.waitFor((e) => e["event"] === "waiting" && e["tag"] === tag, 60_000) });
    try {
      const external = sample(await scrapeMetrics(metricsPort), "frelay_process_nodejs_external_memory_bytes");
      const { initialWindowSize, maxConcurrentStreams } = flood.offered;
      return {
        streams,
        paired: flood.paired,
        offeredMiB: (initialWindowSize * Math.min(maxConcurrentStreams, streams)) / 2 ** 20,
        rssGrowthMiB: (rssKb(br.pid) - baseKb) / 1024,
        externalMiB: external / 2 ** 20,
      };
    } finally {
      flood.close();
    }
  } finally {
    await br.stop();
  }
}
