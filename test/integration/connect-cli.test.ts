import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as crypto from "node:crypto";
import * as net from "node:net";
import * as path from "node:path";
import type { Fixture } from "../helpers/fixture";
import { FRELAY_BIN, runCli, suiteRelay, type RunningRelay } from "../helpers/cli";
import { readAll, sha256 } from "../helpers/streams";
import { partyFiles } from "../../src/pki/layout";

/** The environment a user gets from `set -a; . party.env`, with RELAY and DEST set. */
function envFor(fx: Fixture, identity: string, dest: string, relay: string): NodeJS.ProcessEnv {
  const s = fx.party(identity, dest, relay);
  return { RELAY: relay, RELAY_CA: s.relayCa, RELAY_CERT: s.relayCert, RELAY_KEY: s.relayKey, USER_CA: s.userCa, PARTY_CERT: s.partyCert, PARTY_KEY: s.partyKey, DEST: dest };
}

function untilLine(child: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const t = setTimeout(() => reject(new Error(`no line matching ${re}: ${text}`)), 10000);
    child.stderr!.on("data", (c: Buffer) => {
      text += c.toString();
      const m = re.exec(text);
      if (m) {
        clearTimeout(t);
        resolve(m[0]);
      }
    });
  });
}

describe("frelay connect, the CLI party", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  const children: ChildProcess[] = [];
  // Each party here is a whole CLI process; on a loaded machine the second can take longer than
  // the fixtures' 3 s pair timeout to start, and no test here is about that timeout.
  before(async () => ({ fx, relay, close } = await suiteRelay({ timeouts: { handshake: "10s", pair: "30s", idle: "0s", drain: "2s" } })));
  after(async () => {
    for (const c of children) c.kill("SIGKILL");
    await close();
  });

  it("stdio: what one side types the other reads, both ways, with settings from the Flock environment variables", async () => {
    const in0 = crypto.randomBytes(1024 * 1024 + 1);
    const in1 = crypto.randomBytes(700_000);
    const p0 = runCli(["connect"], { env: envFor(fx, "0.user1", "1.user1", relay.address), input: in0 });
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "0.user1");
    const p1 = runCli(["connect", "0.user1"], { env: { ...envFor(fx, "1.user1", "", relay.address), DEST: "" }, input: in1 });
    const [r0, r1] = await Promise.all([p0, p1]);
    assert.equal(r0.code, 0, r0.stderr);
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(sha256(r1.stdoutBytes), sha256(in0));
    assert.equal(sha256(r0.stdoutBytes), sha256(in1));
  });

  it("stdio, byte-exact through pipes (settings given as file paths)", async () => {
    const input = crypto.randomBytes(300_000);
    const files0 = partyFiles(fx.certsDir, "0.user1");
    const files1 = partyFiles(fx.certsDir, "1.user1");
    const caPath = path.join(fx.certsDir, "relay-ca.pem");
    const userCa = path.join(fx.certsDir, "users", "user1", "ca.pem");
    const pathEnv = (f: typeof files0, dest: string) => ({ RELAY: relay.address, RELAY_CA: caPath, RELAY_CERT: f.relayCert, RELAY_KEY: f.relayKey, USER_CA: userCa, PARTY_CERT: f.partyCert, PARTY_KEY: f.partyKey, DEST: dest });
    const sender = spawn(process.execPath, [FRELAY_BIN, "connect"], { env: { ...process.env, ...pathEnv(files0, "1.user1") } });
    children.push(sender);
    sender.stdin.end(input);
    const receiver = spawn(process.execPath, [FRELAY_BIN, "connect"], { env: { ...process.env, ...pathEnv(files1, "0.user1") } });
    children.push(receiver);
    receiver.stdin.end();
    const got = await readAll(receiver.stdout);
    assert.equal(sha256(got), sha256(input));
  });

  it("--listen and --forward: local TCP connections are relayed to a local service, repeatedly", async () => {
    const echo = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, "127.0.0.1", () => r()));
    const echoPort = (echo.address() as net.AddressInfo).port;
    const forward = spawn(process.execPath, [FRELAY_BIN, "connect", "--forward", `127.0.0.1:${echoPort}`], { env: { ...process.env, ...envFor(fx, "3.user1", "2.user1", relay.address) } });
    children.push(forward);
    await untilLine(forward, /waiting at/);
    const listen = spawn(process.execPath, [FRELAY_BIN, "connect", "--listen", "127.0.0.1:0"], { env: { ...process.env, ...envFor(fx, "2.user1", "3.user1", relay.address) } });
    children.push(listen);
    const line = await untilLine(listen, /listening on [0-9.]+:\d+/);
    const port = Number(line.slice(line.lastIndexOf(":") + 1));
    for (let i = 0; i < 3; i++) {
      const data = crypto.randomBytes(100_000 + i);
      const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
      const got = readAll(s);
      s.end(data);
      assert.equal(sha256(await got), sha256(data), `session ${i}`);
    }
    echo.close();
  });

  it("--h2: the CLI party over HTTP/2 pairs with a stream party", async () => {
    const input = crypto.randomBytes(200_000);
    // Its own tag: the --forward party of the test before still waits for 2.user1 untagged.
    const sender = runCli(["connect", "--h2"], { env: { ...envFor(fx, "2.user1", "3.user1", relay.address), TAG: "h2cli" }, input });
    await relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === "2.user1" && e["tag"] === "h2cli");
    const receiver = await runCli(["connect"], { env: { ...envFor(fx, "3.user1", "2.user1", relay.address), TAG: "h2cli" } });
    assert.equal(receiver.code, 0, receiver.stderr);
    assert.equal(sha256(receiver.stdoutBytes), sha256(input));
    assert.equal((await sender).code, 0);
  });

  it("missing settings are named in one line, exit 2", async () => {
    const r = await runCli(["connect"], { env: { RELAY: "", RELAY_CA: "", DEST: "" } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^frelay: missing settings: RELAY \(or --relay\), RELAY_CA/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });
});
