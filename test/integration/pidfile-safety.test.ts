import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { FRELAY_BIN, freePort, runCli, startForeground } from "../helpers/cli";

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startTimeOf(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A process that is not frelay and must never be signalled by it. */
function bystander(): ChildProcess {
  return spawn("sleep", ["60"], { stdio: "ignore" });
}

describe("pidfile and log file: stop and status never touch a process that is not this relay", () => {
  let fx: Fixture;
  const cli = (...args: string[]) => runCli([...args, "-c", fx.configFile]);
  const pidfile = () => path.join(fx.dir, "frelay.pid");
  const others: ChildProcess[] = [];
  before(async () => {
    fx = makeFixture([["0", "user1"], ["1", "user1"]]);
    fx.writeConfig({ address: `127.0.0.1:${await freePort()}` });
  });
  after(async () => {
    await cli("stop");
    for (const p of others) p.kill("SIGKILL");
    fx.cleanup();
  });

  it("the pidfile records the PID and its start time", async () => {
    const started = await cli("start");
    assert.equal(started.code, 0, started.stderr);
    const [pid, start, rest] = fs.readFileSync(pidfile(), "utf8").split("\n");
    assert.equal(rest, "", "two lines");
    assert.equal(start, startTimeOf(Number(pid)));
    assert.equal((await cli("status")).code, 0);
    assert.equal((await cli("stop")).code, 0);
  });

  for (const [what, content] of [
    ["a recorded start time that does not match", (pid: number) => `${pid}\n${Number(startTimeOf(pid)) + 1}\n`],
    ["only a PID (an older pidfile) whose process is not frelay", (pid: number) => `${pid}\n`],
  ] as const) {
    it(`a pidfile naming another live process (${what}) is stale: status exits 1, stop signals nothing`, async () => {
      const other = bystander();
      others.push(other);
      await new Promise((r) => other.once("spawn", r));
      const pid = other.pid!;
      fs.writeFileSync(pidfile(), content(pid));
      const status = await cli("status");
      assert.equal(status.code, 1, status.stdout);
      assert.match(status.stdout, new RegExp(`names pid ${pid} \\(stale: that PID now belongs to another process`));
      const stop = await cli("stop");
      assert.equal(stop.code, 0, stop.stderr);
      assert.match(stop.stdout, /not running \(removed stale pidfile/);
      assert.ok(alive(pid) && other.exitCode === null && other.signalCode === null, "the other process was not signalled");
      assert.ok(!fs.existsSync(pidfile()));
      other.kill("SIGKILL");
    });
  }

  it("a pidfile naming a zombie is stale: status exits 1 (not 'running'), stop signals nothing", async () => {
    // A parent that forks a child which exits at once, then sleeps and never collects it. (A shell
    // will not do: dash may reap its background job before `exec`, and then there is no zombie.
    // Perl is part of every Debian base system and leaves children alone unless told otherwise.)
    const parent = spawn("perl", ["-e", '$| = 1; my $c = fork() // die "fork: $!"; exit 0 if $c == 0; print "$c\\n"; sleep 60'], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    others.push(parent);
    const zombie = Number(await new Promise<string>((r) => readline.createInterface({ input: parent.stdout }).once("line", r)));
    const deadline = Date.now() + 10_000;
    const stateOf = () => fs.readFileSync(`/proc/${zombie}/stat`, "utf8").split(") ")[1]![0];
    while (stateOf() !== "Z") {
      assert.ok(Date.now() < deadline, "the child never became a zombie");
      await new Promise((r) => setTimeout(r, 10));
    }
    fs.writeFileSync(pidfile(), `${zombie}\n${startTimeOf(zombie)}\n`);
    const status = await cli("status", "--json");
    assert.equal(status.code, 1, status.stdout);
    const report = JSON.parse(status.stdout) as { state: string; stale: string };
    assert.equal(report.state, "dead");
    assert.match(report.stale, /zombie/);
    const stop = await cli("stop");
    assert.equal(stop.code, 0);
    assert.match(stop.stdout, /removed stale pidfile .*zombie/);
    assert.equal(parent.exitCode, null, "the zombie's parent was not signalled either");
    parent.kill("SIGKILL");
  });

  it("the pidfile's temporary file is not written through a link planted in the folder", async () => {
    const victim = path.join(fx.dir, "victim");
    fs.writeFileSync(victim, "precious\n");
    const argv = [FRELAY_BIN, "start", "--fg", "-c", fx.configFile];
    const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
    others.push(child);
    // The name an attacker could predict before: .<pidfile>.<pid>.tmp, planted before the relay gets there.
    fs.symlinkSync(victim, path.join(fx.dir, `.frelay.pid.${child.pid}.tmp`));
    await new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: child.stdout }).on("line", (l) => l.includes('"event":"ready"') && resolve());
      child.once("exit", (code) => reject(new Error(`relay exited with ${code}`)));
    });
    assert.equal(fs.readFileSync(victim, "utf8"), "precious\n");
    assert.equal(fs.readFileSync(pidfile(), "utf8").split("\n")[0], String(child.pid));
    assert.ok(!fs.lstatSync(pidfile()).isSymbolicLink());
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  });

  it("a log.file that is a symbolic link is not followed: start refuses with one line, the target stays untouched", async () => {
    const victim = path.join(fx.dir, "victim.log");
    fs.writeFileSync(victim, "precious\n");
    fs.symlinkSync(victim, path.join(fx.dir, "linked.log"));
    const port = await freePort();
    fx.writeConfig({ address: `127.0.0.1:${port}`, log: { file: "linked.log", level: "info" } });
    try {
      const start = await cli("start");
      assert.equal(start.code, 1);
      assert.match(start.stderr, /^frelay: log\.file .*linked\.log is a symbolic link, which frelay does not follow: point log\.file at the real file \[FRELAY_ERR_FILE\]\n$/);
      assert.equal((await cli("status")).code, 3);

      // In the foreground the relay runs on (stdout still logs) and says why the file gets nothing.
      const relay = await startForeground(fx.configFile);
      try {
        const said = /log file .*linked\.log cannot be written \(ELOOP/;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ELOOP report; stderr: ${relay.stderr()}`)), 30_000);
          const check = () => said.test(relay.stderr()) && (clearTimeout(timer), resolve());
          relay.proc.stderr!.on("data", check);
          check();
        });
      } finally {
        await relay.stop();
      }
      assert.equal(fs.readFileSync(victim, "utf8"), "precious\n");
    } finally {
      fx.writeConfig({ address: `127.0.0.1:${port}` });
    }
  });
});
