import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { controlRequest } from "../../src/daemon/control-client";
import { FRELAY_BIN, freePort, suiteRelay } from "../helpers/cli";
import { makeFixture } from "../helpers/fixture";
import { pair, waitingRawParty } from "../helpers/raw-party";
import { readAll } from "../helpers/streams";
import { fileMatches } from "../helpers/eventually";

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: urlPath, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

describe("operations: metrics, logs, graceful stop", () => {
  it("serves /metrics with bounded labels, /healthz and /readyz", async () => {
    const metricsPort = await freePort();
    const { fx, relay, close } = await suiteRelay({ metrics: { address: `127.0.0.1:${metricsPort}` } });
    try {
      const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
      a.socket.end("x".repeat(10_000));
      await readAll(b.socket);
      b.socket.end();
      await relay.waitFor((e) => e["event"] === "closed");
      assert.equal((await get(metricsPort, "/healthz")).status, 200);
      assert.equal((await get(metricsPort, "/readyz")).status, 200);
      const m = (await get(metricsPort, "/metrics")).body;
      assert.match(m, /^frelay_connections_total\{outcome="paired"\} 2$/m);
      assert.match(m, /^frelay_pairing_seconds_count\{route="0\.user1 <-> 1\.user1"\} 1$/m);
      assert.match(m, /^frelay_sessions_active 0$/m);
      assert.match(m, /^frelay_waiting 0$/m);
      const bytes = Number(/^frelay_relayed_bytes_total (\d+)$/m.exec(m)?.[1]);
      assert.ok(bytes > 10_000, `bytes relayed counted (${bytes})`);
      assert.doesNotMatch(m, /identity=|session=/, "no per-identity or per-session labels");
      assert.equal((await get(metricsPort, "/nope")).status, 404);
    } finally {
      await close();
    }
  });

  it("logs JSON lines with identities, tag, bytes and duration, and never key material", async () => {
    const { fx, relay, close } = await suiteRelay();
    try {
      const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address, "t1"), fx.party("1.user1", "0.user1", relay.address, "t1"));
      a.socket.end("hello");
      await readAll(b.socket);
      b.socket.end();
      await relay.waitFor((e) => e["event"] === "closed" && e["tag"] === "t1");
      // The file sink writes asynchronously: wait for the line itself.
      const lines = (await fileMatches(path.join(fx.dir, "frelay.log"), /"event":"closed".*"tag":"t1"|"tag":"t1".*"event":"closed"/)).trim().split("\n");
      const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const closed = events.find((e) => e["event"] === "closed" && e["tag"] === "t1");
      assert.ok(closed, "closed event in the log file");
      for (const k of ["a", "b", "tag", "bytes_a_to_b", "bytes_b_to_a", "duration_ms", "timestamp", "route"]) assert.ok(k in closed, k);
      for (const ev of ["listen", "ready", "waiting", "paired", "closed"]) assert.ok(events.some((e) => e["event"] === ev), ev);
      assert.doesNotMatch(lines.join("\n"), /PRIVATE KEY|BEGIN CERTIFICATE/);
    } finally {
      await close();
    }
  });

  it("stop refuses waiting parties (503), lets sessions drain for timeouts.drain, then closes them and exits 0", async () => {
    const { fx, relay, close } = await suiteRelay({ timeouts: { handshake: "2s", pair: "30s", idle: "0s", drain: "1500ms" } });
    try {
      const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
      const waiter = await waitingRawParty(fx.party("2.user1", "3.user1", relay.address));
      await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "2.user1");
      const answer = readAll(waiter);
      const t0 = Date.now();
      relay.proc.kill("SIGTERM");
      assert.equal((JSON.parse((await answer).toString()) as { Code: number }).Code, 503);
      // Still flowing during the drain (which began before the 503 went out).
      a.socket.write("during drain");
      const seen = await new Promise<string>((r) => b.socket.once("data", (c: Buffer) => r(c.toString())));
      assert.equal(seen, "during drain");
      const cut = new Promise((r) => b.socket.once("end", r));
      await cut;
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 1200, `session kept for the drain period (${elapsed} ms)`);
      const code = await new Promise<number | null>((r) => (relay.proc.exitCode !== null ? r(relay.proc.exitCode) : relay.proc.once("exit", r)));
      assert.equal(code, 0);
      assert.ok(!fs.existsSync(path.join(fx.dir, "frelay.pid")), "pidfile removed");
      a.socket.destroy();
    } finally {
      await close();
    }
  });

  it("the control socket lists sessions and closes one by id (DELETE /sessions/<id>), leaving the others", async () => {
    const { fx, relay, close } = await suiteRelay();
    try {
      const sock = path.join(fx.dir, "frelay.sock");
      const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
      const [c, d] = await pair(fx.party("2.user1", "3.user1", relay.address), fx.party("3.user1", "2.user1", relay.address));
      const list = (await controlRequest(sock, "GET", "/sessions")).body as { id: string; a: string; b: string }[];
      assert.equal(list.length, 2);
      const target = list.find((s) => s.a === "2.user1");
      assert.ok(target);
      const cut = new Promise((r) => d.socket.once("end", r));
      assert.equal((await controlRequest(sock, "DELETE", `/sessions/${target.id}`)).status, 200);
      await cut;
      assert.equal((await controlRequest(sock, "DELETE", `/sessions/${target.id}`)).status, 404);
      assert.equal((await controlRequest(sock, "GET", "/nope")).status, 404);
      a.socket.end("still here");
      assert.equal((await readAll(b.socket)).toString(), "still here");
      b.socket.end();
      c.socket.destroy();
    } finally {
      await close();
    }
  });

  it("warns at start when the open-file limit is below what limits.max_connections needs", async () => {
    const fx = makeFixture([["0", "user1"]]);
    const port = await freePort();
    fx.writeConfig({ address: `127.0.0.1:${port}`, limits: { max_connections: 5000 } });
    const r = spawnSync("bash", ["-c", `ulimit -n 1024 && "${process.execPath}" "${FRELAY_BIN}" start -c "${fx.configFile}" && "${process.execPath}" "${FRELAY_BIN}" stop -c "${fx.configFile}"`], { encoding: "utf8", timeout: 30000 });
    fx.cleanup();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: open-file limit is 1024, below the 5064 that limits\.max_connections \(5000\) needs/);
  });
});
