import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as http from "node:http";
import type * as net from "node:net";
import * as path from "node:path";
import { controlRequest } from "../../src/daemon/control-client";
import { BASE_CONFIG, makeFixture, type Fixture } from "./fixture";
import { freePort, runCli, startForeground, type RunningRelay } from "./cli";
import { rawSession, relayOnPath, type DataPathCase } from "./data-paths";
import { cpuSeconds, rssMiB } from "./process-stats";
import { readAll, sha256 } from "./streams";

const MiB = 1024 * 1024;

function metricsText(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: "/metrics", timeout: 5000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve(text));
    }).on("error", reject);
  });
}

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return Number(line?.slice(name.length + 1));
}

/** readAll of a socket dialRelay left paused. */
function readAllOf(s: net.Socket, timeoutMs: number): Promise<Buffer> {
  const all = readAll(s, timeoutMs);
  s.resume();
  return all;
}

/** The next chunk a socket dialRelay left paused receives. */
function nextChunk(s: net.Socket): Promise<Buffer> {
  const chunk = new Promise<Buffer>((r) => s.once("data", r));
  s.resume();
  return chunk;
}

const closedFor = (relay: RunningRelay, tag: string, timeoutMs = 15_000) => relay.waitFor((e) => e["event"] === "closed" && e["tag"] === tag, timeoutMs);

/** Resolves once the relay has let go of the party's connection (FIN or reset), bounded. */
function closedSocket(s: net.Socket, timeoutMs = 10_000): Promise<void> {
  if (s.closed || s.readableEnded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the relay never closed this party's connection")), timeoutMs);
    const done = () => (clearTimeout(timer), resolve());
    s.once("end", done);
    s.once("close", done);
    s.once("error", done);
    s.resume(); // its FIN only shows once buffered bytes are read
  });
}

/**
 * The data path's behaviour, the same for both paths: the native splice(2) engine and the
 * JavaScript copy (data-path-native.test.ts and data-path-js.test.ts run it, one file each so
 * that each stays within the per-file timeout). Raw sockets on both ends (no end-to-end TLS) so
 * byte counts are exact.
 */
export function dataPathSuite(dp: DataPathCase): void {
  describe(`data path ${dp.name}: the same behaviour on either path`, { skip: dp.skip }, () => {
    let fx: Fixture;
    let relay: RunningRelay;
    let metricsPort: number;
    let config: Record<string, unknown>;
    before(async () => {
      // Four parties only: every key is made at test time, and RSA keys are slow to make.
      fx = makeFixture([["0", "user1"], ["1", "user1"], ["2", "user1"], ["3", "user1"]]);
      metricsPort = await freePort();
      config = { ...dp.config, metrics: { address: `127.0.0.1:${metricsPort}` }, timeouts: { handshake: "5s", pair: "10s", idle: "0s", drain: "1s" } };
      fx.writeConfig(config);
      relay = await startForeground(fx.configFile);
    });
    after(async () => {
      await relay.stop();
      fx.cleanup();
    });
    const control = (method: string, url: string) => controlRequest(path.join(fx.dir, "frelay.sock"), method, url);
    const sessionId = async (tag: string) => ((await control("GET", "/sessions")).body as { id: string; tag: string }[]).find((s) => s.tag === tag)?.id;

    it(`is the path in use: one line at start, frelay status --json, a metric, each session`, async () => {
      const line = await relay.waitFor((e) => e["event"] === "data_path");
      assert.equal(line["path"], dp.name);
      assert.equal(relay.events.filter((e) => e["event"] === "data_path").length, 1);
      if (dp.name === "js") assert.equal(line["reason"], "native_splice is off in config.json");
      const { a, b } = await rawSession(fx, relay, "which");
      const status = JSON.parse((await runCli(["status", "--json", "-c", fx.configFile])).stdout) as { data_path: { path: string; sessions: Record<string, number> } };
      assert.equal(status.data_path.path, dp.name);
      assert.equal(status.data_path.sessions[dp.name], 1);
      const listed = ((await control("GET", "/sessions")).body as { tag: string; dataPath: string }[]).find((s) => s.tag === "which");
      assert.equal(listed?.dataPath, dp.name);
      const text = await metricsText(metricsPort);
      assert.match(text, new RegExp(`^frelay_data_path\\{path="${dp.name}"\\} 1$`, "m"));
      assert.match(text, new RegExp(`^frelay_sessions_active_by_path\\{path="${dp.name}"\\} 1$`, "m"));
      a.destroy();
      b.destroy();
      await closedFor(relay, "which");
    });

    it("moves every byte both ways and logs and counts them exactly", async () => {
      const totalBefore = metric(await metricsText(metricsPort), "frelay_relayed_bytes_total");
      const { a, b } = await rawSession(fx, relay, "exact");
      const x = crypto.randomBytes(6 * MiB + 3);
      const y = crypto.randomBytes(3 * MiB + 1);
      const [gotB, gotA] = [readAllOf(b, 60_000), readAllOf(a, 60_000)];
      // Written at once after the reply: some may reach the relay before the hand-off is done.
      a.end(x);
      b.end(y);
      assert.equal(sha256(await gotB), sha256(x));
      assert.equal(sha256(await gotA), sha256(y));
      const closed = await closedFor(relay, "exact");
      assert.equal(closed["how"], "done");
      assert.equal(closed["bytes_a_to_b"], x.length);
      assert.equal(closed["bytes_b_to_a"], y.length);
      const totalAfter = metric(await metricsText(metricsPort), "frelay_relayed_bytes_total");
      assert.equal(totalAfter - totalBefore, x.length + y.length);
    });

    it("a reader that stops: the sender is held back, relay memory stays flat and its CPU near idle", async () => {
      const { a, b } = await rawSession(fx, relay, "stall");
      // Bulk first, read in full (on the JS path this once switched reads to fixed buffers)...
      let got = 0;
      await new Promise<void>((resolve) => {
        const onData = (c: Buffer) => {
          got += c.length;
          if (got < 4 * MiB) return;
          b.off("data", onData);
          b.pause();
          resolve();
        };
        b.on("data", onData);
        b.resume();
        a.write(crypto.randomBytes(4 * MiB));
      });
      // ...then the reader stops for good and the sender keeps writing small chunks, one a
      // millisecond, so that the relay reads and writes small ones (a small write left queued is what
      // the JS path's fixed-buffer reads once polled for, at full CPU).
      const id = await sessionId("stall");
      const relayed = async () => ((await control("GET", "/sessions")).body as { id: string; bytesAToB: number }[]).find((s) => s.id === id)?.bytesAToB ?? -1;
      const chunk = crypto.randomBytes(4 * 1024);
      let written = 0;
      let writing = true;
      const write = () => {
        if (!writing) return;
        written += chunk.length;
        if (a.write(chunk)) setTimeout(write, 1);
        else a.once("drain", write);
      };
      write();
      // Wait for the relay to stop moving bytes and the sender to be held back: everything in
      // between (kernel buffers, the pipe or Node's write queue) is full.
      let last = -2;
      for (let i = 0; i < 100; i++) {
        const now = await relayed();
        if (now === last && a.writableLength > 0) break;
        last = now;
        await new Promise((r) => setTimeout(r, 200));
      }
      const pid = relay.proc.pid!;
      const [cpu0, rss0] = [cpuSeconds(pid), rssMiB(pid)];
      await new Promise((r) => setTimeout(r, 3000));
      const [cpu1, rss1] = [cpuSeconds(pid), rssMiB(pid)];
      assert.equal(await relayed(), last, "bytes still moved: the stall was not complete");
      assert.ok(a.writableLength > 0, "the sender's writes should be queued: held back by TCP");
      assert.ok(cpu1 - cpu0 < 0.3, `the relay used ${(cpu1 - cpu0).toFixed(2)} s of CPU in 3 s of stall`);
      assert.ok(rss1 - rss0 < 16, `relay RSS grew by ${(rss1 - rss0).toFixed(1)} MiB while stalled`);
      // The reader comes back: everything arrives.
      writing = false;
      const rest = readAllOf(b, 60_000);
      a.end();
      assert.equal((await rest).length, written);
      b.end();
      await closedFor(relay, "stall");
    });

    for (const side of ["a", "b"] as const) {
      it(`a connection reset on side ${side} ends the session as an error and closes the other side`, async () => {
        const tag = `rst-${side}`;
        const { a, b } = await rawSession(fx, relay, tag);
        a.write("hello");
        await nextChunk(b);
        const [gone, other] = side === "a" ? [a, b] : [b, a];
        gone.resetAndDestroy();
        const closed = await closedFor(relay, tag);
        assert.equal(closed["how"], "error");
        assert.ok(String(closed["error"]).length > 0);
        await closedSocket(other);
      });
    }

    it("DELETE /sessions/<id> closes that session only", async () => {
      const one = await rawSession(fx, relay, "del-1");
      const two = await rawSession(fx, relay, "del-2");
      const id = await sessionId("del-1");
      assert.equal((await control("DELETE", `/sessions/${id}`)).status, 200);
      const closed = await closedFor(relay, "del-1");
      assert.equal(closed["how"], "removed");
      assert.equal(closed["reason"], "closed by operator");
      await Promise.all([closedSocket(one.a), closedSocket(one.b)]);
      const got = nextChunk(two.b);
      two.a.write("still here");
      assert.equal(String(await got), "still here");
      two.a.destroy();
      two.b.destroy();
      await closedFor(relay, "del-2");
    });

    it("the idle timeout ends a silent session", async () => {
      const idle = await relayOnPath(fx, dp, "idle", { timeouts: { handshake: "5s", pair: "10s", idle: "1s", drain: "1s" } });
      try {
        const { a, b } = await rawSession(fx, idle, "idle");
        const t0 = Date.now();
        a.write("x");
        await nextChunk(b);
        const closed = await closedFor(idle, "idle");
        assert.equal(closed["how"], "idle");
        assert.ok(Date.now() - t0 >= 900, "cut before the idle timeout");
        await Promise.all([closedSocket(a), closedSocket(b)]);
      } finally {
        await idle.stop();
      }
    });

    it("a reload that removes the route closes its sessions; the others flow on", async () => {
      const kept = await rawSession(fx, relay, "kept", ["2.user1", "3.user1"]);
      const gone = await rawSession(fx, relay, "route-gone");
      fx.writeConfig({ ...config, routes: BASE_CONFIG.routes.filter((r) => r.between[0] !== "0.user1") });
      const closed = await closedFor(relay, "route-gone");
      assert.equal(closed["how"], "removed");
      await Promise.all([closedSocket(gone.a), closedSocket(gone.b)]);
      const got = nextChunk(kept.b);
      kept.a.write("on");
      assert.equal(String(await got), "on");
      fx.writeConfig(config);
      kept.a.destroy();
      kept.b.destroy();
    });

    it("stop: sessions left after timeouts.drain are closed and logged with their bytes", async () => {
      const { a, b } = await rawSession(fx, relay, "at-stop", ["2.user1", "3.user1"]);
      a.write("12345");
      await nextChunk(b);
      await relay.stop();
      const closed = await closedFor(relay, "at-stop", 5000);
      assert.equal(closed["how"], "removed");
      assert.equal(closed["reason"], "relay stopped");
      assert.equal(closed["bytes_a_to_b"], 5);
      await Promise.all([closedSocket(a), closedSocket(b)]);
    });
  });
}
