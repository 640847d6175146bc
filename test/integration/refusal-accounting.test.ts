import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as path from "node:path";
import { connect } from "../../src/client/connect";
import type { Fixture } from "../helpers/fixture";
import { freePort, suiteRelay, type RunningRelay } from "../helpers/cli";
import { waitForStatus } from "../helpers/control-state";
import { sample, scrapeMetrics } from "../helpers/metrics";
import { pair, waitingRawParty } from "../helpers/raw-party";
import { readAll } from "../helpers/streams";

/**
 * Every party turned away, on every transport, is logged and counted by one function; and the
 * log stays bounded when one address is turned away over and over.
 */
/** A relay with metrics for the enclosing suite, started in before() and stopped in after(). */
function relayWithMetrics(overrides: Record<string, unknown> = {}): { fx: Fixture; relay: RunningRelay; metricsPort: number } {
  const ctx = {} as { fx: Fixture; relay: RunningRelay; metricsPort: number; close(): Promise<void> };
  before(async () => {
    ctx.metricsPort = await freePort();
    Object.assign(ctx, await suiteRelay({ metrics: { address: `127.0.0.1:${ctx.metricsPort}` }, ...overrides }));
  });
  after(() => ctx.close());
  return ctx;
}

describe("refusals: logged and counted in one place, summarised per address", () => {
  const ctx = relayWithMetrics();

  it("an HTTP/2 400 is logged and counted", { timeout: 20000 }, async () => {
    const series = 'frelay_connections_total{outcome="refused_400"}';
    const before = sample(await scrapeMetrics(ctx.metricsPort), series);
    await assert.rejects(connect({ ...ctx.fx.party("0.user1", "not an identity", ctx.relay.address), transport: "h2", timeoutMs: 5000 }), /relay refused \(400\)/);
    await ctx.relay.waitFor((e) => e["event"] === "refused" && e["code"] === 400 && e["identity"] === "0.user1");
    assert.equal(sample(await scrapeMetrics(ctx.metricsPort), series), before + 1);
  });

  it("repeated handshake failures from one address are summarised, not one line each", { timeout: 40000 }, async () => {
    const N = 80;
    for (let i = 0; i < N; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect({ host: "127.0.0.1", port: ctx.relay.port, localAddress: "127.0.0.41" }, () => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        s.on("error", () => undefined);
        s.once("close", () => resolve());
      });
    }
    const summary = await ctx.relay.waitFor((e) => e["event"] === "turned_away_summary" && e["address"] === "127.0.0.41", 20000);
    const lines = ctx.relay.events.filter((e) => e["event"] === "handshake_failed" && String(e["remote"]).startsWith("127.0.0.41:")).length;
    const notLogged = (summary["not_logged"] as Record<string, number>)["handshake_failed"] ?? 0;
    assert.ok(lines <= 50, `${lines} full lines for one address`);
    assert.equal(lines + notLogged, N, "every failure is either logged or counted in the summary");
  });
});

describe("refusals at stop", () => {
  const ctx = relayWithMetrics({ timeouts: { handshake: "2s", pair: "20s", idle: "0s", drain: "10s" } });

  it("a waiting party refused 503 by a stop is logged and counted", { timeout: 30000 }, async () => {
    // An open session keeps the stop draining (and /metrics up) while we look.
    const [a, b] = await pair(ctx.fx.party("2.user1", "3.user1", ctx.relay.address), ctx.fx.party("3.user1", "2.user1", ctx.relay.address));
    const waiting = await waitingRawParty(ctx.fx.party("0.user1", "1.user1", ctx.relay.address));
    await ctx.relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "0.user1");
    const reply = readAll(waiting, 10000);
    ctx.relay.proc.kill("SIGTERM");
    assert.match((await reply).toString(), /"Code":503/);
    const line = await ctx.relay.waitFor((e) => e["event"] === "refused" && e["code"] === 503);
    assert.equal(line["identity"], "0.user1");
    assert.equal(sample(await scrapeMetrics(ctx.metricsPort), 'frelay_connections_total{outcome="refused_503"}'), 1);
    a.socket.destroy();
    b.socket.destroy();
  });
});

describe("refusals at the connection hard cap", () => {
  // max_connections 4: 429s up to 5 connections (1.25x), a plain close beyond.
  const ctx = relayWithMetrics({ timeouts: { handshake: "20s", pair: "3s", idle: "0s", drain: "2s" }, limits: { max_connections: 4 } });

  it("a connection closed at accept far over max_connections is logged and counted", { timeout: 30000 }, async () => {
    const held: net.Socket[] = [];
    const dial = () => new Promise<net.Socket>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: ctx.relay.port, localAddress: "127.0.0.43" }, () => resolve(s));
      s.on("error", () => undefined);
    });
    try {
      for (let i = 0; i < 5; i++) held.push(await dial());
      // The relay's own count: all five are held before the sixth comes.
      await waitForStatus(path.join(ctx.fx.dir, "frelay.sock"), (s) => s["connections"] === 5);
      const series = 'frelay_connections_total{outcome="handshake_failed"}';
      const before = sample(await scrapeMetrics(ctx.metricsPort), series);
      const sixth = await dial();
      await new Promise((r) => (sixth.destroyed ? r(undefined) : sixth.once("close", r)));
      const line = await ctx.relay.waitFor((e) => e["event"] === "handshake_failed" && /far over its connection limit/.test(String(e["reason"])));
      assert.match(String(line["remote"]), /^127\.0\.0\.43:\d+$/);
      assert.match(String(line["reason"]), /limits\.max_connections is 4/);
      assert.equal(sample(await scrapeMetrics(ctx.metricsPort), series), before + 1);
    } finally {
      for (const s of held) s.destroy();
    }
  });
});
