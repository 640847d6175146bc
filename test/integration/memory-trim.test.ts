import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import type { Fixture } from "../helpers/fixture";
import { freePort, REPO_ROOT, suiteRelay, type RunningRelay } from "../helpers/cli";
import { rawSession } from "../helpers/data-paths";
import { sample, scrapeMetrics } from "../helpers/metrics";
import { NO_SKIP } from "../helpers/require-tool";

/**
 * The relay hands the C heap's free pages back to the kernel after sessions end (malloc_trim,
 * native/memory_trim.cc): the call really shrinks a process's resident C heap, and a running
 * relay calls it once sessions have closed.
 */
const ADDON = path.join(REPO_ROOT, "build", "Release", "frelay_memory.node");
const isGlibc = process.platform === "linux" && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime);
const skip = NO_SKIP ? false : !isGlibc ? "malloc_trim is glibc's; this C library has none" : !fs.existsSync(ADDON) ? "the native addon is not built (npm install builds it where a C++ compiler, make and python3 exist)" : false;

/**
 * In a fresh Node: fill 64 MiB of Buffers in the C heap, keep only the last (it pins the top of
 * the heap, so glibc cannot shrink it by itself), free the rest, then trim. Prints the resident
 * size of [heap] before and after, in kB, and what trimMemory returned.
 */
const CHILD = `
const fs = require("fs");
const { memoryBinding } = require(${JSON.stringify(path.join(REPO_ROOT, "dist", "src", "daemon", "memory-trim.js"))});
const heapKb = () => { const t = fs.readFileSync("/proc/self/smaps", "utf8"); const i = t.indexOf("[heap]"); return i < 0 ? 0 : Number(/Rss:\\s+(\\d+)/.exec(t.slice(i))[1]); };
let bufs = [];
for (let i = 0; i < 1300; i++) bufs.push(Buffer.allocUnsafeSlow(48 * 1024).fill(i));
const keep = bufs[bufs.length - 1];
bufs = null;
(async () => {
  for (let i = 0; i < 100 && process.memoryUsage().arrayBuffers > 16 * 2 ** 20; i++) { global.gc(); await new Promise((r) => setTimeout(r, 20)); }
  const before = heapKb();
  const released = memoryBinding().trimMemory();
  console.log(JSON.stringify({ before, after: heapKb(), released, kept: keep.length }));
})();
`;

describe("memory trim", { skip }, () => {
  it("malloc_trim returns freed C-heap pages that glibc kept", { timeout: 30000 }, () => {
    const out = JSON.parse(execFileSync(process.execPath, ["--expose-gc", "-e", CHILD], { encoding: "utf8", timeout: 25000 })) as { before: number; after: number; released: boolean };
    assert.ok(out.before > 48 * 1024, `[heap] held ${out.before} kB after the Buffers were freed: the test did not reproduce glibc keeping them`);
    assert.equal(out.released, true);
    assert.ok(out.after < out.before - 32 * 1024, `[heap] ${out.before} kB -> ${out.after} kB after the trim`);
  });

  describe("in a running relay", () => {
    const ctx = {} as { fx: Fixture; relay: RunningRelay; metricsPort: number; close(): Promise<void> };
    before(async () => {
      ctx.metricsPort = await freePort();
      Object.assign(ctx, await suiteRelay({ metrics: { address: `127.0.0.1:${ctx.metricsPort}` } }));
    });
    after(() => ctx.close());

    it("a connection that closes after its TLS handshake, before its request, leaves no C memory behind", { timeout: 120000 }, async () => {
      // Before the fix each such connection kept OpenSSL's state: 100 of them, about +5 MiB.
      const inUse = async () => {
        const text = await scrapeMetrics(ctx.metricsPort);
        return sample(text, "frelay_malloc_in_use_bytes") - sample(text, "frelay_process_nodejs_external_memory_bytes");
      };
      const p = ctx.fx.party("0.user1", "1.user1", ctx.relay.address);
      const handshakeThenClose = () =>
        new Promise<void>((resolve) => {
          const s = tls.connect({ host: "127.0.0.1", port: ctx.relay.port, ca: p.relayCa, cert: p.relayCert, key: p.relayKey, checkServerIdentity: () => undefined });
          s.once("secureConnect", () => s.destroy());
          s.once("error", () => resolve());
          s.once("close", () => resolve());
        });
      for (let i = 0; i < 10; i++) await handshakeThenClose(); // warm-up: first-use allocations
      const before = await inUse();
      for (let i = 0; i < 100; i++) await handshakeThenClose();
      // The relay handles the last closes a moment after ours: polled, bounded.
      const deadline = Date.now() + 10_000;
      let grown = (await inUse()) - before;
      while (grown >= 2 * 2 ** 20 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        grown = (await inUse()) - before;
      }
      assert.ok(grown < 2 * 2 ** 20, `C heap in use grew ${(grown / 2 ** 20).toFixed(1)} MiB over 100 connections closed before their request`);
    });

    it("trims once sessions have ended, and counts it", { timeout: 30000 }, async () => {
      assert.equal(sample(await scrapeMetrics(ctx.metricsPort), "frelay_memory_trims_total"), 0, "no trim before any session ended");
      const { a, b } = await rawSession(ctx.fx, ctx.relay, "trim-1");
      a.destroy();
      b.destroy();
      await ctx.relay.waitFor((e) => e["event"] === "closed" && e["tag"] === "trim-1");
      // The first session to end trims at once, in the same turn as the "closed" line; polled
      // (bounded) only because a scrape names no event to wait on.
      const deadline = Date.now() + 10_000;
      let trims = 0;
      while ((trims = sample(await scrapeMetrics(ctx.metricsPort), "frelay_memory_trims_total")) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(trims >= 1, "no trim counted within 10 s of the session's end");
    });
  });
});
