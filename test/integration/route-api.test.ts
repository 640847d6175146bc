import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { controlRequest } from "../../src/daemon/control-client";
import { makeFixture, type Fixture } from "../helpers/fixture";
import { runCli, startForeground, type RunningRelay } from "../helpers/cli";

const routesIn = (file: string) => (JSON.parse(fs.readFileSync(file, "utf8")) as { routes: { between: string[] }[] }).routes.map((r) => r.between.join(" <-> "));

describe("routes from an orchestrator: /routes on the control socket and frelay route", () => {
  let fx: Fixture;
  let relay: RunningRelay | undefined;
  before(() => {
    fx = makeFixture([["0", "user1"], ["1", "user1"]]);
  });
  after(async () => {
    await relay?.stop();
    fx.cleanup();
  });

  it("concurrent frelay route add with no daemon: every edit lands (the lock file serializes them)", { timeout: 90_000 }, async () => {
    const ends = ["a", "b", "c", "d", "e", "f"].map((x) => [`${x}.t1`, `${x}.t2`] as const);
    const results = await Promise.all(ends.map(([a, b]) => runCli(["route", "add", a, b, "-c", fx.configFile], { timeoutMs: 60_000 })));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const routes = routesIn(fx.configFile);
    for (const [a, b] of ends) assert.ok(routes.includes(`${a} <-> ${b}`), `${a} <-> ${b} kept`);
    assert.deepEqual(fs.readdirSync(fx.dir).filter((f) => /\.lock$|\.tmp$/.test(f)), [], "no lock or temp file left");
  });

  it("POST, DELETE and GET /routes edit config.json like frelay route, concurrent edits included, and the CLI goes through them", { timeout: 90_000 }, async () => {
    relay = await startForeground(fx.configFile);
    const sock = path.join(fx.dir, "frelay.sock");
    const n = 20;
    const posts = Array.from({ length: n }, (_, i) => controlRequest(sock, "POST", "/routes", 20_000, { between: [`f${i}.fn`, `g${i}.fn`] }));
    const clis = [0, 1, 2].map((i) => runCli(["route", "add", `cli${i}.fn`, "hub.fn", "-c", fx.configFile], { timeoutMs: 60_000 }));
    for (const r of await Promise.all(posts)) assert.equal(r.status, 200, JSON.stringify(r.body));
    for (const r of await Promise.all(clis)) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^added route cli\d\.fn <-> hub\.fn; a running relay applies it/);
    }
    // The CLI's edits went through the daemon (it logs each edit it makes).
    for (const i of [0, 1, 2]) await relay.waitFor((e) => e["event"] === "route_edit" && JSON.stringify(e["between"]) === JSON.stringify([`cli${i}.fn`, "hub.fn"]));
    const listed = (await controlRequest(sock, "GET", "/routes")).body as { routes: { between: string[] }[] };
    const names = listed.routes.map((r) => r.between.join(" <-> "));
    for (let i = 0; i < n; i++) assert.ok(names.includes(`f${i}.fn <-> g${i}.fn`), `route ${i} not lost`);
    assert.deepEqual(names, routesIn(fx.configFile), "GET /routes is the file");

    const bad = await controlRequest(sock, "POST", "/routes", 5000, { between: ["0.user1", "no spaces"] });
    assert.equal(bad.status, 400);
    const badCli = await runCli(["route", "add", "0.user1", "no spaces", "-c", fx.configFile]);
    assert.equal(badCli.code, 2);
    assert.equal(badCli.stderr.split("\n")[0]?.replace(/^frelay: /, "").replace(/ \[FRELAY_ERR_USAGE\]$/, ""), (bad.body as { message: string }).message);
    const missing = await controlRequest(sock, "DELETE", "/routes", 5000, { between: ["x.y", "z.y"] });
    assert.equal(missing.status, 404);
    assert.match((missing.body as { message: string }).message, /^no route x\.y <-> z\.y in .*config\.json/);
    const removed = await controlRequest(sock, "DELETE", "/routes", 5000, { between: ["g0.fn", "f0.fn"] });
    assert.equal(removed.status, 200);
    assert.ok(!routesIn(fx.configFile).includes("f0.fn <-> g0.fn"));
    // The watcher applies the file: the relay reloads with the edited routes.
    await relay.waitFor((e) => e["event"] === "reload" && e["result"] === "reloaded" && e["routes"] === routesIn(fx.configFile).length, 20_000);
  });
});
