import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadConfig } from "../../src/config/load";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { runCli, startForeground } from "../helpers/cli";

/** Runs the relay with umask 0000, the worst case a unix socket's mode could inherit. */
const UMASK_0 = ["sh", "-c", 'umask 0000; exec "$0" "$@"'];

/**
 * The config `frelay init` writes leaves fronting off (a fronting listener believes whoever can
 * reach it about any identity); a unix fronting socket gets `fronting.socket_mode` (default
 * 0660) and optionally `socket_group`, never the umask's mode.
 */
describe("fronting: off by default; a unix fronting socket has an explicit mode", { timeout: 120_000 }, () => {
  let fx: Fixture;
  let initDir: string;
  before(() => {
    fx = makeFixture([["0", "user1"]]);
    initDir = fs.mkdtempSync(path.join(os.tmpdir(), "frelay-init-"));
  });
  after(() => {
    fx.cleanup();
    fs.rmSync(initDir, { recursive: true, force: true });
  });

  it("frelay init writes a config without fronting (and frelay check accepts it)", async () => {
    assert.equal((await runCli(["init"], { cwd: initDir })).code, 0);
    const raw = JSON.parse(fs.readFileSync(path.join(initDir, "config.json"), "utf8")) as Record<string, unknown>;
    assert.equal(raw["fronting"], undefined, "no fronting key");
    assert.equal(loadConfig(path.join(initDir, "config.json")).fronting, undefined);
    assert.match((await runCli(["check"], { cwd: initDir })).stdout, /^config OK\n/);
  });

  async function socketModeWith(fronting: Record<string, unknown>): Promise<fs.Stats> {
    const sock = path.join(fx.dir, "fronting.sock");
    fx.writeConfig({ fronting: { address: sock, ...fronting } });
    const relay = await startForeground(fx.configFile, [], { prefix: UMASK_0 });
    try {
      return fs.statSync(sock);
    } finally {
      await relay.stop();
    }
  }

  it("under umask 0000 the socket is 0660 by default, not world-writable", async () => {
    const st = await socketModeWith({});
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
  });

  it("socket_mode and socket_group (a gid or a name) are applied", async () => {
    const gid = process.getgid?.() ?? 0;
    const st = await socketModeWith({ socket_mode: "0600", socket_group: String(gid) });
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.gid, gid);
    const name = fs.readFileSync("/etc/group", "utf8").split("\n").map((l) => l.split(":")).find((f) => f[2] === String(gid))?.[0];
    if (name) assert.equal((await socketModeWith({ socket_group: name })).gid, gid);
  });

  it("an unknown group is one clear line at start; socket_mode is checked by the schema", async () => {
    fx.writeConfig({ fronting: { address: path.join(fx.dir, "fronting.sock"), socket_group: "no-such-group-frelay" } });
    const r = await runCli(["start", "--fg", "-c", fx.configFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /fronting\.socket_group "no-such-group-frelay" is not a group on this host/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    fx.writeConfig({ fronting: { address: path.join(fx.dir, "fronting.sock"), socket_mode: "0999" } });
    const check = await runCli(["check", "-c", fx.configFile]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /fronting\.socket_mode/);
  });
});
