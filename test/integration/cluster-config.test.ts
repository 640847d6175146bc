import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";
import { connect } from "../../src/client/connect";
import { issueCertificate } from "../../src/pki/certs";
import { partyFiles, relayCaFiles } from "../../src/pki/layout";
import { NODE_OU } from "../../src/pki/node-identity";
import { freePort, runCli } from "../helpers/cli";
import { startNode, writeNodeConfig, type ClusterNodeProc } from "../helpers/cluster";
import { makeFixture, BASE_CONFIG, type Fixture } from "../helpers/fixture";
import { redisSkip, startRedis, type RunningRedis } from "../helpers/redis";

describe("cluster settings, node certificates and frelay check", { skip: redisSkip(), timeout: 120_000 }, () => {
  let fx: Fixture;
  let redis: RunningRedis;
  before(async () => {
    fx = makeFixture([["2", "user1"], ["3", "user1"]]);
    redis = await startRedis();
  });
  after(async () => {
    await redis?.close();
    fx?.cleanup();
  });

  it("frelay cert node <name> writes a node certificate (key 0600) signed by the relay CA, marked as a node", async () => {
    const r = await runCli(["cert", "node", "n1", "-c", fx.configFile]);
    assert.equal(r.code, 0, r.stderr);
    const dir = path.join(fx.certsDir, "nodes", "n1");
    assert.equal(fs.statSync(path.join(dir, "node.key")).mode & 0o777, 0o600);
    const cert = new crypto.X509Certificate(fs.readFileSync(path.join(dir, "node.pem")));
    assert.ok(cert.subject.split("\n").includes(`OU=${NODE_OU}`), cert.subject);
    assert.ok(cert.subject.includes("CN=frelay-node:n1"), cert.subject);
    assert.ok(cert.verify(new crypto.X509Certificate(fs.readFileSync(relayCaFiles(fx.certsDir).cert)).publicKey));
    const again = await runCli(["cert", "node", "n1", "-c", fx.configFile]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already exists \(use --force to replace it\)/);
    const bad = await runCli(["cert", "node", "bad name", "-c", fx.configFile]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /node name "bad name" is not valid/);
  });

  it("frelay check: schema errors in cluster, each naming the setting and the fix", async () => {
    fs.writeFileSync(fx.configFile, JSON.stringify({ ...BASE_CONFIG, cluster: { redis: "http://x", node: "a b", peer_address: "nowhere", extra: 1 } }, null, 2));
    const r = await runCli(["check", "-c", fx.configFile]);
    assert.equal(r.code, 1);
    for (const re of [/cluster\.redis: is not a Redis URL/, /cluster\.node: is not a node name/, /cluster\.extra: unknown key "extra"/]) assert.match(r.stderr, re);
    fs.writeFileSync(fx.configFile, JSON.stringify({ ...BASE_CONFIG, cluster: { redis: redis.url, node: "nocert", peer_address: "nowhere" } }, null, 2));
    const r2 = await runCli(["check", "-c", fx.configFile]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /cluster\.peer_address: "nowhere" is not host:port/);
    assert.match(r2.stderr, /cluster\.cert: certs\/nodes\/nocert\/node\.pem does not exist \(run "frelay cert node nocert", or set cluster\.cert and cluster\.key\)/);
  });

  it("frelay check tries the Redis connection: OK when it answers, one clear error when it does not", async () => {
    const file = writeNodeConfig(fx, "c1", redis.url);
    const ok = await runCli(["check", "-c", file]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^cluster: Redis at redis:\/\/127\.0\.0\.1:\d+\/0 answered in [\d.]+ ms\nconfig OK\n/);
    const deadPort = await freePort();
    const down = writeNodeConfig(fx, "c1", `redis://127.0.0.1:${deadPort}/0`);
    const r = await runCli(["check", "-c", down]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^frelay: cluster\\.redis: cannot reach redis://127\\.0\\.0\\.1:${deadPort}/0 \\(.*ECONNREFUSED.*\\); start Redis there or fix cluster\\.redis \\[FRELAY_ERR_CONFIG_INVALID\\]\\n$`));
  });

  it("a config with a party certificate in place of the node certificate is refused", async () => {
    const f = partyFiles(fx.certsDir, "2.user1");
    const file = writeNodeConfig(fx, "c2", redis.url, {});
    const raw = JSON.parse(fs.readFileSync(file, "utf8")) as { cluster: Record<string, string> };
    raw.cluster["cert"] = path.relative(fx.dir, f.relayCert);
    raw.cluster["key"] = path.relative(fx.dir, f.relayKey);
    fs.writeFileSync(file, JSON.stringify(raw));
    const r = await runCli(["check", "-c", file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cluster\.cert: certs\/parties\/2\.user1\/relay\.pem is not a node certificate/);
  });

  describe("a running node", () => {
    let node: ClusterNodeProc;
    before(async () => {
      node = await startNode(fx, "n2", redis.url);
    });
    after(async () => {
      await node?.stop();
    });

    it("refuses a node certificate presented as a party, even one whose CN looks like an identity", async () => {
      const nodeDir = path.join(fx.certsDir, "nodes", "n2");
      const nodeCert = { certPem: fs.readFileSync(path.join(nodeDir, "node.pem"), "utf8"), keyPem: fs.readFileSync(path.join(nodeDir, "node.key"), "utf8") };
      const ca = relayCaFiles(fx.certsDir);
      const forged = issueCertificate({
        commonName: "2.user1",
        organizationalUnit: NODE_OU,
        usage: "peer",
        days: 1,
        bits: 2048,
        issuer: { certPem: fs.readFileSync(ca.cert, "utf8"), keyPem: fs.readFileSync(ca.key, "utf8") },
      });
      for (const [tag, cert] of [["nodecert", nodeCert], ["forged", forged]] as const) {
        const before = node.events.length;
        const settings = { ...fx.party("2.user1", "3.user1", node.address, tag), relayCert: cert.certPem, relayKey: cert.keyPem };
        await assert.rejects(connect({ ...settings, timeoutMs: 5000 }));
        const failed = await node.waitFor((e) => node.events.indexOf(e) >= before && e["event"] === "handshake_failed", 5000);
        assert.match(String(failed["reason"]), /node certificate/);
      }
    });

    it("refuses a party certificate on the node-to-node link", async () => {
      const f = partyFiles(fx.certsDir, "2.user1");
      const [host, port] = [node.peerAddress.slice(0, node.peerAddress.lastIndexOf(":")), Number(node.peerAddress.slice(node.peerAddress.lastIndexOf(":") + 1))];
      const before = node.events.length;
      const sock = tls.connect({ host, port, ca: fs.readFileSync(relayCaFiles(fx.certsDir).cert), cert: fs.readFileSync(f.relayCert), key: fs.readFileSync(f.relayKey), checkServerIdentity: () => undefined });
      sock.on("error", () => undefined);
      sock.on("secureConnect", () => sock.write('{"claim":"1","session":"s","from":"x","request":{"identity":"2.user1"}}\n'));
      await new Promise((r) => sock.once("close", r));
      const refused = await node.waitFor((e) => node.events.indexOf(e) >= before && e["event"] === "link_refused", 5000);
      assert.match(String(refused["reason"]), /not a node certificate/);
    });

    it("status shows the cluster; a reload that changes it says a restart is needed and keeps the running settings", async () => {
      const st = await runCli(["status", "--json", "-c", node.configFile]);
      const status = JSON.parse(st.stdout) as { cluster: { node: string; redis: string } };
      assert.equal(status.cluster.node, "n2");
      assert.equal(status.cluster.redis, "up");
      const text = await runCli(["status", "-c", node.configFile]);
      assert.match(text.stdout, /cluster: +node n2 at 127\.0\.0\.1:\d+; Redis up/);
      const raw = JSON.parse(fs.readFileSync(node.configFile, "utf8")) as { cluster: Record<string, unknown> };
      raw.cluster["workers"] = 2;
      fs.writeFileSync(node.configFile, JSON.stringify(raw));
      // The watcher sees the edit and reloads; the change waits for a restart, and says so.
      const reload = await node.waitFor((e) => e["event"] === "reload" && JSON.stringify(e["pending_restart"] ?? "").includes("cluster settings changed"), 20_000);
      assert.equal(reload["result"], "reloaded");
    });
  });
});
