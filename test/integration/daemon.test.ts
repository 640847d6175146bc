import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { freePort, runCli } from "../helpers/cli";
import { pair } from "../helpers/raw-party";
import { readAll } from "../helpers/streams";

describe("the daemon: frelay start | status | stop as a user runs them", () => {
  let fx: Fixture;
  let port: number;
  const cli = (...args: string[]) => runCli([...args, "-c", fx.configFile]);
  const pidfile = () => path.join(fx.dir, "frelay.pid");
  before(async () => {
    fx = makeFixture([["0", "user1"], ["1", "user1"]]);
    port = await freePort();
    fx.writeConfig({ address: `127.0.0.1:${port}` });
  });
  after(async () => {
    await cli("stop");
    fx.cleanup();
  });

  it("start returns once listening; status reports it; a second start is refused; stop drains and removes the pidfile", async () => {
    assert.equal((await cli("status")).code, 3);
    const started = await cli("start");
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, new RegExp(`frelay started \\(pid \\d+\\), listening on stream 127\\.0\\.0\\.1:${port}`));
    const pid = Number(fs.readFileSync(pidfile(), "utf8").split("\n")[0]);
    assert.ok(pid > 0 && pid !== process.pid);
    // Listening the moment start returned: a pair works at once.
    const [a, b] = await pair(fx.party("0.user1", "1.user1", `127.0.0.1:${port}`), fx.party("1.user1", "0.user1", `127.0.0.1:${port}`));
    a.socket.end("hi");
    assert.equal((await readAll(b.socket)).toString(), "hi");
    b.socket.end();

    assert.equal(fs.statSync(path.join(fx.dir, "frelay.sock")).mode & 0o777, 0o600, "control socket is 0600");
    const status = await cli("status");
    assert.equal(status.code, 0);
    assert.match(status.stdout, new RegExp(`frelay is running \\(pid ${pid}, version \\d+\\.\\d+\\.\\d+, up \\d+s\\)`));
    assert.match(status.stdout, /sessions: +\d+ active/);
    const json = JSON.parse((await cli("status", "--json")).stdout) as Record<string, unknown>;
    assert.equal(json["state"], "running");
    assert.equal(json["pid"], pid);
    assert.deepEqual(json["listeners"], [`stream 127.0.0.1:${port}`]);
    for (const k of ["uptime_s", "waiting", "active_sessions", "bytes_relayed", "last_reload", "version"]) assert.ok(k in json, k);

    const again = await cli("start");
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`already running \\(pid ${pid}\\)`));
    const fg = await cli("start", "--fg");
    assert.equal(fg.code, 1, "a foreground start is refused too");

    const stopped = await cli("stop");
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, new RegExp(`frelay stopped \\(pid ${pid}\\)`));
    assert.ok(!fs.existsSync(pidfile()), "pidfile removed");
    // Exited: gone, or a zombie until whatever adopted the detached daemon collects it.
    assert.ok(!fs.existsSync(`/proc/${pid}`) || /^\S+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8")), "process exited");
    assert.equal((await cli("status")).code, 3);
    const twice = await cli("stop");
    assert.equal(twice.code, 0);
    assert.match(twice.stdout, /not running/);
  });

  it("after kill -9: status says the pidfile is stale (exit 1), and start replaces it", async () => {
    assert.equal((await cli("start")).code, 0);
    const pid = Number(fs.readFileSync(pidfile(), "utf8").split("\n")[0]);
    process.kill(pid, "SIGKILL");
    while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
    const status = await cli("status");
    assert.equal(status.code, 1);
    assert.match(status.stdout, new RegExp(`pidfile .* names pid ${pid} \\(stale`));
    const restarted = await cli("start");
    assert.equal(restarted.code, 0, restarted.stderr);
    assert.equal((await cli("status")).code, 0);
    assert.equal((await cli("stop")).code, 0);
  });

  it("start fails with exit 1 and the reason, within seconds: bad config, port in use, a log file it cannot open", async () => {
    fs.writeFileSync(fx.configFile, JSON.stringify({ address: `127.0.0.1:${port}`, tls: { ca: "certs/relay-ca.pem", cert: "certs/relay.pem", key: "certs/missing.key" }, routes: [] }));
    const t0 = Date.now();
    const bad = await cli("start");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /tls\.key: certs\/missing\.key does not exist/);
    assert.ok(Date.now() - t0 < 10_000);

    fx.writeConfig({ address: `127.0.0.1:${port}` });
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", () => r()));
    try {
      const inUse = await cli("start");
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, new RegExp(`address 127\\.0\\.0\\.1:${port} is already in use`));
      assert.ok(!fs.existsSync(pidfile()), "no pidfile for a relay that never listened");
    } finally {
      blocker.close();
    }

    // A log file that cannot be opened: one line naming log.file and the fix, no traceback.
    fs.mkdirSync(path.join(fx.dir, "a-folder"), { recursive: true });
    fx.writeConfig({ address: `127.0.0.1:${port}`, log: { file: "a-folder", level: "info" } });
    const noLog = await cli("start");
    assert.equal(noLog.code, 1);
    assert.match(noLog.stderr, /^frelay: log\.file .*a-folder cannot be opened \(EISDIR\): point log\.file at a writable file/m);
    assert.doesNotMatch(noLog.stderr, /unexpected error|at .*\.js:\d+/);
    assert.equal((await cli("status")).code, 3);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
