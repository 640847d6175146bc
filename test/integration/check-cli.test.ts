import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { makeFixture, BASE_CONFIG, type Fixture } from "../helpers/fixture";
import { runCli } from "../helpers/cli";

describe("frelay check: validates config.json and every file it names, like nginx -t", () => {
  let fx: Fixture;
  const check = () => runCli(["check", "-c", fx.configFile]);
  before(() => {
    fx = makeFixture([["0", "user1"]]);
  });
  after(() => fx.cleanup());

  it("prints config OK for a good config and changes nothing", async () => {
    fx.writeConfig();
    const before = fs.readdirSync(fx.dir).sort();
    const r = await check();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config OK\n/);
    assert.deepEqual(fs.readdirSync(fx.dir).sort(), before);
  });

  it("also finds the config through $FRELAY_CONFIG", async () => {
    const r = await runCli(["check"], { env: { FRELAY_CONFIG: fx.configFile }, cwd: "/" });
    assert.match(r.stdout, /^config OK\n/);
  });

  it("reports every schema error at once, each with its JSON path, line and fix", async () => {
    fs.writeFileSync(
      fx.configFile,
      JSON.stringify(
        {
          ...BASE_CONFIG,
          adress: "x",
          timeouts: { handshake: 10, pair: "5 minutes", idle: "0s" },
          limits: { max_connections: "many" },
          routes: [{ between: ["0.user1"] }, { between: ["0.user1", "bad end!"] }],
          log: { level: "loud" },
        },
        null,
        2,
      ),
    );
    const r = await check();
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split("\n");
    assert.match(lines[0] ?? "", /config\.json: \d+ errors found, config not used/);
    const expect = [
      /config\.json:\d+: adress: unknown key "adress" \(remove it/,
      /config\.json:\d+: timeouts\.handshake: must be a duration string like "30s", not a bare number/,
      /config\.json:\d+: timeouts\.pair: is not a duration \(write a string like "500ms", "30s", "5m" or "1h"\)/,
      /config\.json:\d+: limits\.max_connections: must be a whole number/,
      /config\.json:\d+: routes\[0\]\.between: must list exactly two route ends/,
      /config\.json:\d+: routes\[1\]\.between\[1\]: is not a route end/,
      /config\.json:\d+: log\.level: must be one of "error", "warn", "info", "debug"/,
    ];
    for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `${re} in:\n${r.stderr}`);
    const handshakeLine = fs.readFileSync(fx.configFile, "utf8").split("\n").findIndex((l) => l.includes('"handshake"')) + 1;
    assert.ok(lines.some((l) => l.includes(`config.json:${handshakeLine}: timeouts.handshake`)), "the line number points at the value");
  });

  it("reports missing files, a key that does not match its certificate, and a bad CRL together", async () => {
    fx.writeConfig({ tls: { ca: "certs/nope.pem", cert: "certs/relay.pem", key: "certs/relay-ca.key", crl: "certs/relay.pem" } });
    const r = await check();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tls\.ca: certs\/nope\.pem does not exist \(run "frelay init", or fix the path\)/);
    assert.match(r.stderr, /tls\.key: certs\/relay-ca\.key does not match certs\/relay\.pem/);
    assert.match(r.stderr, /tls\.crl: certs\/relay\.pem is not a PEM CRL/);
  });

  it("a required key missing, invalid JSON, and a missing file each get one clear sentence", async () => {
    fs.writeFileSync(fx.configFile, JSON.stringify({ address: "127.0.0.1:1", routes: [] }));
    let r = await check();
    assert.match(r.stderr, /\(top level\): missing required key "tls"/);
    fs.writeFileSync(fx.configFile, '{\n  "address": "127.0.0.1:1",\n  "tls": {,\n}');
    r = await check();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /config\.json:3: not valid JSON .*fix the syntax/);
    r = await runCli(["check", "-c", path.join(fx.dir, "missing.json")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.json does not exist \(run "frelay init" to create one, or pass -c <path>\)/);
  });

  it("address forms: host:port and [v6]:port are accepted, others explained", async () => {
    fx.writeConfig({ address: "[::1]:6000" });
    assert.equal((await check()).code, 0);
    fx.writeConfig({ address: "localhost" });
    const r = await check();
    assert.match(r.stderr, /address: "localhost" is not host:port/);
  });

  it("HTTP/2 memory limits: a budget too small for its streams is refused with the fix", async () => {
    fx.writeConfig({ limits: { h2_connection_buffer_mib: 64, h2_max_streams: 256 } });
    assert.equal((await check()).code, 0);
    fx.writeConfig({ limits: { h2_connection_buffer_mib: 4, h2_max_streams: 128 } });
    const r = await check();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /limits\.h2_max_streams.*leaves each HTTP\/2 stream 32\.0 KiB.*lower h2_max_streams or raise h2_connection_buffer_mib/);
  });
});
