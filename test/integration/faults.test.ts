import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { runCli, startForeground, suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";
import { keepFlowing } from "../helpers/flowing";
import { rssMiB } from "../helpers/process-stats";
import { toolForCheck } from "../helpers/require-tool";
import { delay } from "../helpers/streams";
import { eventually } from "../helpers/eventually";


/** A foreground relay on a fresh fixture with `config`, for one test; always cleaned up. */
async function withRelay(config: Record<string, unknown>, body: (fx: Fixture, relay: RunningRelay) => Promise<void>, opts: { prefix?: string[] } = {}): Promise<void> {
  const fx = makeFixture();
  fx.writeConfig(config);
  const relay = await startForeground(fx.configFile, [], opts);
  try {
    await body(fx, relay);
  } finally {
    await relay.stop();
    fx.cleanup();
  }
}

describe("faults: stalled and vanished peers, a failing log file, descriptor exhaustion", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay()));
  after(() => close());

  it("a peer that stops reading: the sender is held back (backpressure) and the relay's memory stays flat", async () => {
    const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address, "stall"), fx.party("1.user1", "0.user1", relay.address, "stall"));
    b.socket.pause(); // b reads nothing
    const before = rssMiB(relay.proc.pid!);
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let accepted = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      if (a.socket.write(chunk)) accepted += chunk.length;
      else {
        accepted += chunk.length;
        await Promise.race([new Promise((r) => a.socket.once("drain", r)), delay(until - Date.now())]);
      }
    }
    const grew = rssMiB(relay.proc.pid!) - before;
    // Without backpressure 3 s of loopback would be gigabytes; with it, socket buffers' worth.
    assert.ok(accepted < 128 * 1024 * 1024, `the sender could queue ${accepted >> 20} MiB against a stalled reader`);
    assert.ok(grew < 48, `relay RSS grew by ${grew.toFixed(0)} MiB while the reader stalled`);
    // Once b reads again, everything a wrote arrives.
    let got = 0;
    b.socket.on("data", (c: Buffer) => (got += c.length));
    b.socket.resume();
    a.socket.end();
    await new Promise((r) => b.socket.once("end", r));
    assert.equal(got, accepted);
    a.socket.destroy();
    b.socket.destroy();
  });

  it("a peer that vanishes without a FIN: the idle timeout ends the session; connections carry TCP keepalive", async (t) => {
    await withRelay({ timeouts: { handshake: "2s", pair: "5s", idle: "1s", drain: "1s" } }, async (fx2, r2) => {
      const [a, b] = await pair(fx2.party("0.user1", "1.user1", r2.address, "quiet"), fx2.party("1.user1", "0.user1", r2.address, "quiet"));
      a.socket.resume(); // take whatever the end-to-end TLS still sends (session tickets)
      b.socket.resume();
      if (toolForCheck(t, "ss")) {
        // The relay's end of each party connection, as the kernel sees it.
        // While bytes still await their ACK (the end-to-end session tickets) the kernel shows the
        // retransmit timer instead ("timer:(on,..)"): wait for the quiet state, bounded.
        let last = "";
        const quiet = await eventually("both relay connections idle with a keepalive timer", () => {
          last = spawnSync("ss", ["-tnoH", "state", "established", `( sport = :${r2.port} )`], { encoding: "utf8" }).stdout;
          const lines = last.trim().split("\n").filter(Boolean);
          return lines.length === 2 && lines.every((l) => /timer:\(keepalive/.test(l)) ? lines : undefined;
        }, 5000).catch(() => undefined);
        assert.ok(quiet, `expected two established relay connections with keepalive timers; ss says:\n${last}`);
      }
      // Neither party says anything from now on: as if both had vanished.
      const t0 = Date.now();
      const closed = await r2.waitFor((e) => e["event"] === "closed" && e["tag"] === "quiet", 5000);
      assert.equal(closed["how"], "idle");
      assert.ok(Date.now() - t0 < 3000);
      for (const s of [a.socket, b.socket]) s.destroy();
    });
  });

  for (const [what, file] of [["a full disk (/dev/full)", "/dev/full"], ["a log path that is a folder", "logs-folder"]] as const) {
    it(`the log file is ${what}: the relay keeps relaying and says so on stderr and in status`, async () => {
      const fx2 = makeFixture();
      if (file === "logs-folder") fs.mkdirSync(path.join(fx2.dir, file));
      fx2.writeConfig({ log: { level: "info", file } });
      const r2 = await startForeground(fx2.configFile);
      try {
        const [a, b] = await pair(fx2.party("0.user1", "1.user1", r2.address, "log"), fx2.party("1.user1", "0.user1", r2.address, "log"));
        const flow = keepFlowing(a.socket, b.socket);
        // Relaying goes on while the relay reports the broken log file.
        await eventually("the relay's stderr naming the log file", () => /log file .* cannot be written .*relaying continues/.test(r2.stderr()));
        assert.ok((await flow.stop()).intact);
        const status = await runCli(["status", "-c", fx2.configFile]);
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /log file: .* CANNOT BE WRITTEN since .* lines dropped/);
        a.socket.destroy();
        b.socket.destroy();
      } finally {
        await r2.stop();
        fx2.cleanup();
      }
    });
  }

  it("out of descriptors at accept (EMFILE): the relay says so, keeps its sessions, and serves again when descriptors free up", async () => {
    await withRelay({ timeouts: { handshake: "5s", pair: "5s", idle: "0s", drain: "1s" } }, async (fx2, r2) => {
      const [a, b] = await pair(fx2.party("2.user1", "3.user1", r2.address, "held"), fx2.party("3.user1", "2.user1", r2.address, "held"));
      const flow = keepFlowing(a.socket, b.socket);
      const hogs: net.Socket[] = [];
      for (let i = 0; i < 80; i++) {
        const s = net.connect({ host: "127.0.0.1", port: r2.port });
        s.on("error", () => undefined);
        hogs.push(s);
      }
      // libuv closes what it cannot accept without telling Node; the relay's watch says so.
      await r2.waitFor((e) => e["event"] === "open_files_exhausted", 8000);
      for (const s of hogs) s.destroy();
      await r2.waitFor((e) => e["event"] === "open_files_recovered", 8000);
      assert.ok((await flow.stop()).intact, "the session lost bytes while descriptors ran out");
      const [c, d] = await pair(fx2.party("0.user1", "1.user1", r2.address, "again"), fx2.party("1.user1", "0.user1", r2.address, "again"));
      a.socket.destroy();
      b.socket.destroy();
      c.socket.destroy();
      d.socket.destroy();
    }, { prefix: ["prlimit", "--nofile=64:64"] });
  });
});
