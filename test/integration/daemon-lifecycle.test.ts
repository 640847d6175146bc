import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { makeFixture } from "../helpers/fixture";
import { FRELAY_BIN, freePort, runCli, startForeground } from "../helpers/cli";
import { waitingRawParty } from "../helpers/raw-party";
import { readAll } from "../helpers/streams";
import { waitForStatus } from "../helpers/control-state";
import { controlRequest } from "../../src/daemon/control-client";

const logEvents = (file: string) =>
  fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("the daemon's own files and its last moments", () => {
  it("a reload that changes pidfile, control_socket and log.file moves them: status and stop find the relay where config.json now says", async () => {
    const fx = makeFixture([["0", "user1"], ["1", "user1"]]);
    const cli = (...args: string[]) => runCli([...args, "-c", fx.configFile]);
    const address = `127.0.0.1:${await freePort()}`;
    fx.writeConfig({ address, log: { file: "old.log", level: "info" } });
    const relay = await startForeground(fx.configFile);
    try {
      fs.mkdirSync(path.join(fx.dir, "run"));
      const mark = relay.events.length;
      fx.writeConfig({ address, pidfile: "run/moved.pid", control_socket: "run/moved.sock", log: { file: "new.log", level: "info" } });
      const reload = await relay.waitFor((e) => e["event"] === "reload" && relay.events.indexOf(e) >= mark, 30_000);
      assert.equal(reload["result"], "reloaded");
      assert.equal(reload["pending_restart"], undefined);

      assert.ok(!fs.existsSync(path.join(fx.dir, "frelay.pid")) && !fs.existsSync(path.join(fx.dir, "frelay.sock")), "the old pidfile and socket are gone");
      assert.equal(fs.readFileSync(path.join(fx.dir, "run", "moved.pid"), "utf8").split("\n")[0], String(relay.proc.pid));
      assert.equal(fs.statSync(path.join(fx.dir, "run", "moved.sock")).mode & 0o777, 0o600);
      const status = await cli("status", "--json");
      assert.equal(status.code, 0, status.stdout + status.stderr);
      const json = JSON.parse(status.stdout) as Record<string, unknown>;
      assert.equal(json["pid"], relay.proc.pid);
      assert.deepEqual(json["pending_restart"], []);
      assert.equal((await cli("reload")).stdout.trim(), "reloaded");

      const stop = await cli("stop");
      assert.equal(stop.code, 0, stop.stderr);
      assert.match(stop.stdout, new RegExp(`frelay stopped \\(pid ${relay.proc.pid}\\)`));
      assert.ok(!fs.existsSync(path.join(fx.dir, "run", "moved.pid")));
      // The old file ends by pointing at the new one, which holds everything after.
      const old = logEvents(path.join(fx.dir, "old.log"));
      assert.equal(old.at(-1)?.["event"], "log_file_moved");
      const moved = logEvents(path.join(fx.dir, "new.log")).map((e) => e["event"]);
      for (const ev of ["log_file_moved", "reload", "stopping", "stopped"]) assert.ok(moved.includes(ev), `${ev} in new.log: ${moved.join(",")}`);
    } finally {
      await relay.stop();
      fx.cleanup();
    }
  });

  it("a pidfile the reload cannot move is kept, with a 'needs a restart' warning that status shows; the rest of the reload applies", async () => {
    const fx = makeFixture([["0", "user1"], ["1", "user1"], ["2", "user1"], ["3", "user1"]]);
    const address = `127.0.0.1:${await freePort()}`;
    fx.writeConfig({ address, routes: [{ between: ["0.user1", "1.user1"] }] });
    const relay = await startForeground(fx.configFile);
    try {
      const mark = relay.events.length;
      fx.writeConfig({ address, routes: [{ between: ["2.user1", "3.user1"] }], pidfile: "no-such-folder/frelay.pid" });
      const reload = await relay.waitFor((e) => e["event"] === "reload" && e["result"] === "reloaded" && relay.events.indexOf(e) >= mark, 30_000);
      assert.match(String((reload["pending_restart"] as string[])[0]), /^pidfile .*no-such-folder\/frelay\.pid cannot be written \(.*ENOENT.*\); still .*frelay\.pid$/);
      assert.equal(reload["routes"], 1);
      assert.ok(fs.existsSync(path.join(fx.dir, "frelay.pid")), "the old pidfile stays");
      const status = (await controlRequest(path.join(fx.dir, "frelay.sock"), "GET", "/status", 5000)).body as Record<string, unknown>;
      assert.match(String((status["pending_restart"] as string[])[0]), /no-such-folder/);
      const reloadCli = await runCli(["reload", "-c", fx.configFile]);
      // config.json now names a pidfile that does not exist, so the CLI cannot find the relay there.
      assert.equal(reloadCli.code, 1);
    } finally {
      await relay.stop();
      fx.cleanup();
    }
  });

  it("frelay stop: the last lines (stopping, stopped) reach the log file before the process exits", async () => {
    const fx = makeFixture([["0", "user1"], ["1", "user1"]]);
    const cli = (...args: string[]) => runCli([...args, "-c", fx.configFile]);
    const address = `127.0.0.1:${await freePort()}`;
    fx.writeConfig({ address, timeouts: { handshake: "2s", pair: "60s", idle: "0s", drain: "1s" } });
    try {
      assert.equal((await cli("start")).code, 0);
      const waiter = await waitingRawParty(fx.party("0.user1", "1.user1", address, "last"));
      const answer = readAll(waiter);
      await waitForStatus(path.join(fx.dir, "frelay.sock"), (s) => s["waiting"] === 1);
      const stop = await cli("stop");
      assert.equal(stop.code, 0, stop.stderr);
      await answer.catch(() => undefined); // the waiter's 503 at stop is refusals' business, tested there
      const events = logEvents(path.join(fx.dir, "frelay.log"));
      const names = events.map((e) => e["event"]);
      assert.ok(names.includes("stopping"), names.join(","));
      assert.equal(names.at(-1), "stopped", `stopped is the file's last line: ${names.join(",")}`);
    } finally {
      await cli("stop");
      fx.cleanup();
    }
  });

  it("a SIGTERM the moment the pidfile appears stops the relay cleanly: exit 0, no pidfile left behind", async () => {
    const fx = makeFixture([["0", "user1"], ["1", "user1"]]);
    try {
      const pidfile = path.join(fx.dir, "frelay.pid");
      const child = spawn(process.execPath, [FRELAY_BIN, "start", "--fg", "-c", fx.configFile], { stdio: "ignore" });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
      const watcher = fs.watch(fx.dir, (_type, name) => {
        if (name === "frelay.pid" && fs.existsSync(pidfile)) {
          watcher.close();
          child.kill("SIGTERM");
        }
      });
      const { code, signal } = await exited;
      watcher.close();
      assert.deepEqual({ code, signal }, { code: 0, signal: null });
      assert.ok(!fs.existsSync(pidfile), "pidfile removed");
    } finally {
      fx.cleanup();
    }
  });

  it("an uncaught exception is logged with its stack to the current log file, and the relay exits non-zero", async () => {
    const fx = makeFixture([["0", "user1"], ["1", "user1"]]);
    const bug = path.join(fx.dir, "bug.js");
    // Stands in for a bug: the relay's code throws from an event handler nobody catches.
    fs.writeFileSync(bug, 'process.on("SIGUSR2", () => { throw new Error("a bug the relay did not expect"); });\n');
    fx.writeConfig({ log: { file: "frelay.log", level: "info" } });
    const relay = await startForeground(fx.configFile, ["--require", bug]);
    try {
      const exited = new Promise<number | null>((r) => relay.proc.once("exit", (code) => r(code)));
      relay.proc.kill("SIGUSR2");
      const code = await exited;
      assert.notEqual(code, 0);
      const crash = logEvents(path.join(fx.dir, "frelay.log")).find((e) => e["event"] === "uncaught_exception");
      assert.ok(crash, "uncaught_exception in the log file");
      assert.equal(crash["error"], "a bug the relay did not expect");
      assert.match(String(crash["stack"]), /Error: a bug the relay did not expect\n\s+at /);
      assert.equal(crash["level"], "error");
    } finally {
      await relay.stop();
      fx.cleanup();
    }
  });
});
