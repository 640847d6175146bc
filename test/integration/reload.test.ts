import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import { connect, type RelayedConnection } from "../../src/client/connect";
import { BASE_CONFIG, type Fixture } from "../helpers/fixture";
import { freePort, runCli, suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair, refusalFor, waitingRawParty } from "../helpers/raw-party";
import { delay, readAll, sha256 } from "../helpers/streams";
import { eventually, fileMatches, holdsOpen } from "../helpers/eventually";

/** Keeps `conn` busy sending random data in pieces until stop(); returns what was sent. */
function trickle(conn: RelayedConnection): { stop(): Promise<Buffer> } {
  const sent: Buffer[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const chunk = crypto.randomBytes(16 * 1024);
      sent.push(chunk);
      if (!conn.socket.write(chunk)) await new Promise((r) => conn.socket.once("drain", r));
      await delay(2);
    }
    conn.socket.end();
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Buffer.concat(sent);
    },
  };
}

/** Resolves when the relay has cut the connection: its read side ends (the socket is half-open). */
function cutOff(s: import("node:stream").Duplex): Promise<void> {
  return new Promise((resolve) => {
    s.once("end", resolve);
    s.once("close", resolve);
    s.resume();
  });
}

describe("reload: a new config applies without a restart; a broken one changes nothing", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  const cli = (...args: string[]) => runCli([...args, "-c", fx.configFile]);
  const sinceNow = () => {
    const mark = relay.events.length;
    return (pred: (e: Record<string, unknown>) => boolean) => relay.waitFor((e) => relay.events.indexOf(e) >= mark && pred(e));
  };
  before(async () => ({ fx, relay, close } = await suiteRelay()));
  after(async () => {
    await close();
  });

  it("a broken config is refused by frelay reload (exit 1, with the reason) while a session keeps flowing", async () => {
    const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
    const got = readAll(b.socket);
    const flow = trickle(a);
    await delay(100);
    const good = fs.readFileSync(fx.configFile, "utf8");
    const next = sinceNow();
    fs.writeFileSync(fx.configFile, good.replace('"2s"', '"two seconds"'));
    const r = await cli("reload");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kept the old config: .*timeouts\.handshake: is not a duration/);
    await next((e) => e["event"] === "reload" && e["result"] === "failed");
    const status = await cli("status");
    assert.match(status.stdout, /last reload: FAILED, kept the old config/);
    // The relay still serves new pairs under the old config.
    const [c, d] = await pair(fx.party("2.user1", "3.user1", relay.address), fx.party("3.user1", "2.user1", relay.address));
    c.socket.end("still serving");
    assert.equal((await readAll(d.socket)).toString(), "still serving");
    d.socket.end();
    fs.writeFileSync(fx.configFile, good);
    const sent = await flow.stop();
    assert.equal(sha256(await got), sha256(sent));
    b.socket.end();
  });

  it("removing a route by editing the file closes only that route's sessions and waiters (403)", async () => {
    const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
    const [c, d] = await pair(fx.party("2.user1", "3.user1", relay.address), fx.party("3.user1", "2.user1", relay.address));
    const waiter = await waitingRawParty(fx.party("3.user1", "2.user1", relay.address, "w"));
    const waiterAnswer = readAll(waiter);
    const kept = readAll(b.socket);
    const flow = trickle(a);
    const cut = cutOff(d.socket);
    const next = sinceNow();
    fx.writeConfig({ routes: [{ between: ["0.user1", "1.user1"] }, { between: ["hub.flock", "*.flock"] }] });
    await next((e) => e["event"] === "reload" && e["result"] === "reloaded");
    await cut;
    c.socket.destroy();
    const w = JSON.parse((await waiterAnswer).toString()) as { Code: number; Error: string };
    assert.equal(w.Code, 403);
    const closed = await next((e) => e["event"] === "closed" && e["a"] === "2.user1");
    assert.equal(closed["how"], "removed");
    await delay(200);
    const sent = await flow.stop();
    assert.equal(sha256(await kept), sha256(sent), "the session on the kept route lost nothing");
    b.socket.end();
    assert.equal((await refusalFor(fx.party("2.user1", "3.user1", relay.address))).Code, 403);
    fx.writeConfig();
    await next((e) => e["event"] === "reload" && e["routes"] === BASE_CONFIG.routes.length);
  });

  it("frelay route add / rm edit config.json atomically, keep every other key, and the watcher applies them", async () => {
    const before = JSON.parse(fs.readFileSync(fx.configFile, "utf8")) as Record<string, unknown>;
    assert.equal((await refusalFor(fx.party("0.user1", "3.user1", relay.address))).Code, 403);
    const next = sinceNow();
    const added = await cli("route", "add", "0.user1", "3.user1");
    assert.equal(added.code, 0, added.stderr);
    await next((e) => e["event"] === "reload" && e["result"] === "reloaded");
    const after = JSON.parse(fs.readFileSync(fx.configFile, "utf8")) as Record<string, unknown>;
    assert.deepEqual({ ...after, routes: undefined }, { ...before, routes: undefined }, "other keys untouched");
    assert.match((await cli("route", "ls")).stdout, /^0\.user1 <-> 3\.user1$/m);
    const [a, b] = await pair(fx.party("0.user1", "3.user1", relay.address), fx.party("3.user1", "0.user1", relay.address));
    const gone = cutOff(b.socket);
    const next2 = sinceNow();
    assert.equal((await cli("route", "rm", "3.user1", "0.user1")).code, 0);
    await next2((e) => e["event"] === "reload" && e["result"] === "reloaded");
    await gone;
    a.socket.destroy();
    const missing = await cli("route", "rm", "3.user1", "0.user1");
    assert.equal(missing.code, 1);
    // A route that is not there is its own error, not an invalid config (docs/errors.md).
    assert.match(missing.stderr, /no route 3\.user1 <-> 0\.user1 .*\[FRELAY_ERR_ROUTE_NOT_FOUND\]$/m);
    const bad = await cli("route", "add", "0.user1", "not valid!");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /is not a route end .*\[FRELAY_ERR_USAGE\]$/m);
  });

  it("SIGHUP reloads (an unchanged file is a no-op) and SIGUSR1 reopens the log without opening the inspector", async () => {
    const next = sinceNow();
    relay.proc.kill("SIGHUP");
    const e = await next((x) => x["event"] === "reload");
    assert.equal(e["result"], "unchanged");
    const logFile = `${fx.dir}/frelay.log`;
    fs.renameSync(logFile, `${logFile}.1`);
    // The reopen is seen (the relay holds the new file), then the reload it logs goes there.
    relay.proc.kill("SIGUSR1");
    await eventually("the reopened log file", () => fs.existsSync(logFile));
    await holdsOpen(relay.proc.pid ?? 0, logFile);
    relay.proc.kill("SIGHUP");
    await next((x) => x["event"] === "reload" && relay.events.filter((y) => y["event"] === "reload").length >= 2);
    await fileMatches(logFile, /"event":"reload"/);
    assert.equal(relay.proc.exitCode, null, "still running");
    const inspector = await new Promise<boolean>((resolve) => {
      const s = net.connect(9229, "127.0.0.1");
      s.on("connect", () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    assert.equal(inspector, false, "no inspector on 9229");
  });

  it("frelay cert revoke + reload: the revoked party's session closes and it cannot connect again", async () => {
    const [a, b] = await pair(fx.party("2.user1", "3.user1", relay.address), fx.party("3.user1", "2.user1", relay.address));
    const [c, d] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
    const gone = cutOff(b.socket);
    const next = sinceNow();
    const revoked = await cli("cert", "revoke", "3.user1");
    assert.equal(revoked.code, 0, revoked.stderr);
    await next((e) => e["event"] === "reload" && e["result"] === "reloaded");
    await gone;
    a.socket.destroy();
    await assert.rejects(connect({ ...fx.party("3.user1", "2.user1", relay.address), timeoutMs: 5000 }));
    const failed = await next((e) => e["event"] === "handshake_failed");
    assert.match(String(failed["reason"]), /revoked/);
    c.socket.end("unaffected");
    assert.equal((await readAll(d.socket)).toString(), "unaffected");
    d.socket.end();
  });

  it("a changed address is rebound: new port up before the old closes, open sessions continue", async () => {
    const [a, b] = await pair(fx.party("0.user1", "1.user1", relay.address), fx.party("1.user1", "0.user1", relay.address));
    const port = await freePort();
    const next = sinceNow();
    fx.writeConfig({ address: `127.0.0.1:${port}` });
    await next((e) => e["event"] === "reload" && e["result"] === "reloaded");
    const moved = `127.0.0.1:${port}`;
    const [c, d] = await pair(fx.party("0.user1", "1.user1", moved, "moved"), fx.party("1.user1", "0.user1", moved, "moved"));
    c.socket.end("new port");
    assert.equal((await readAll(d.socket)).toString(), "new port");
    d.socket.end();
    await assert.rejects(connect({ ...fx.party("0.user1", "1.user1", relay.address), timeoutMs: 3000 }), /cannot reach relay|closed/);
    a.socket.end("old session");
    assert.equal((await readAll(b.socket)).toString(), "old session");
    b.socket.end();
  });
});
