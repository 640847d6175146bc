import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import type { Fixture } from "../helpers/fixture";
import { runCli, suiteRelay, type RunningRelay } from "../helpers/cli";
import { pair } from "../helpers/raw-party";
import { keepFlowing } from "../helpers/flowing";
import { rssMiB } from "../helpers/process-stats";
import { waitForStatus } from "../helpers/control-state";

/** A small seeded PRNG (mulberry32): a failing case can be replayed from the printed seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface FuzzCase {
  kind: string;
  bytes: Buffer;
  /** How many TLS records the bytes are split over. */
  pieces: number;
  /** Close our side after sending (an early close when the request is incomplete). */
  endAfter: boolean;
}

/** Requests that are wrong in every way the stream protocol can be: none may ever pair. */
function makeCases(rand: () => number, n: number): FuzzCase[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const str = (len: number) => Array.from({ length: len }, () => String.fromCharCode(32 + Math.floor(rand() * 95))).join("").replace(/["\\]/g, "x");
  const valid = '{"DestParty":"1.user1","Tag":"t"}';
  const generators: [string, () => Buffer][] = [
    ["random bytes", () => Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 6000) }, () => Math.floor(rand() * 256)))],
    ["random bytes after a brace", () => Buffer.concat([Buffer.from("{"), Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))), Buffer.from("}")])],
    ["wrong type", () => Buffer.from(JSON.stringify({ DestParty: pick([1, null, true, [], {}, ["1.user1"], { id: "1.user1" }]), Tag: pick(["t", 7, null, {}, []]) }))],
    ["wrong top-level type", () => Buffer.from(pick(['["1.user1"]', '"1.user1"', "17", "null", "true"]))],
    ["huge DestParty", () => Buffer.from(JSON.stringify({ DestParty: `${str(300 + Math.floor(rand() * 5000))}.user1`, Tag: "t" }))],
    ["huge Tag", () => Buffer.from(JSON.stringify({ DestParty: "1.user1", Tag: str(4100 + Math.floor(rand() * 3000)) }))],
    ["many fields past 4 KiB", () => Buffer.from(JSON.stringify(Object.fromEntries([["DestParty", "1.user1"], ...Array.from({ length: 200 + Math.floor(rand() * 200) }, (_, i) => [`f${i}`, str(20)])])))],
    ["not an identity", () => Buffer.from(JSON.stringify({ DestParty: pick(["", "x y", "a..b", ".user1", "1.", "1 .user1", "ü.user1", "1.user1\n", `${"a".repeat(64)}.user1`]), Tag: "t" }))],
    ["bad JSON", () => Buffer.from(pick(['{"DestParty":"1.user1",}', '{"DestParty":1.user1}', "{'DestParty':'1.user1'}", '{"DestParty":"1.user1" "Tag":"t"}', '{"DestParty":"\\q"}', '{"DestParty":"1.user1\u0001"}', '{"DestParty"}']))],
    ["invalid UTF-8 in a string", () => Buffer.concat([Buffer.from('{"DestParty":"1.'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('","Tag":"t"}')])],
    ["deep nesting", () => Buffer.from(`{"DestParty":"1.user1","x":${"[".repeat(1000 + Math.floor(rand() * 2000))}${"]".repeat(1000)}`)],
    ["trailing bytes", () => Buffer.concat([Buffer.from(valid), Buffer.from(pick(["garbage", "{}", valid, "\u0000", "x".repeat(5000)]))])],
    ["missing DestParty", () => Buffer.from(JSON.stringify({ Tag: "t", destparty: "1.user1" }))],
  ];
  const cases: FuzzCase[] = [];
  for (let i = 0; i < n; i++) {
    const [kind, gen] = pick(generators);
    const bytes = gen();
    cases.push({ kind, bytes, pieces: 1 + Math.floor(rand() * Math.min(8, bytes.length)), endAfter: rand() < 0.2 });
  }
  // Early closes: half a valid request, then FIN.
  for (let i = 0; i < n / 20; i++) cases.push({ kind: "early close", bytes: Buffer.from(valid.slice(0, 1 + Math.floor(rand() * (valid.length - 2)))), pieces: 1, endAfter: true });
  return cases;
}

/** Sends one case as a party with a valid certificate; resolves with what the relay did. */
function runCase(port: number, cred: { ca: string; cert: string; key: string }, c: FuzzCase): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: "127.0.0.1", port, ...cred });
    const parts: Buffer[] = [];
    const timer = setTimeout(() => (s.destroy(), resolve("no answer within 10 s")), 10_000);
    s.on("secureConnect", () => {
      const size = Math.ceil(c.bytes.length / c.pieces);
      let at = 0;
      // One write per event-loop turn: each piece leaves as its own TLS record.
      const next = () => {
        if (s.destroyed) return;
        if (at >= c.bytes.length) return void (c.endAfter && s.end());
        s.write(c.bytes.subarray(at, (at += size)));
        setImmediate(next);
      };
      next();
    });
    s.on("data", (d: Buffer) => parts.push(d));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(parts).toString();
      if (text === "") return resolve("closed");
      try {
        const reply = JSON.parse(text) as { Mode?: number; Code?: number };
        resolve(reply.Mode === 0 && reply.Code === 400 ? "400" : `unexpected reply ${text}`);
      } catch {
        resolve(`unreadable reply ${JSON.stringify(text.slice(0, 200))}`);
      }
    });
  });
}

/** Runs `fn` over `items` with at most `width` at a time. */
async function pool<T, R>(items: T[], width: number, fn: (t: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  }));
  return out;
}


describe("fuzz: malformed requests and handshakes", () => {
  let fx: Fixture;
  let relay: RunningRelay;
  let close: () => Promise<void>;
  before(async () => ({ fx, relay, close } = await suiteRelay({ timeouts: { handshake: "2s", pair: "3s", idle: "0s", drain: "1s" }, log: { level: "info" } })));
  after(() => close());

  it("thousands of malformed requests: each refused with 400 or closed; a session flows throughout; nothing leaks", async (t) => {
    const seed = Number(process.env["FRELAY_FUZZ_SEED"] ?? Date.now() % 1_000_000);
    t.diagnostic(`FRELAY_FUZZ_SEED=${seed} (set it to replay these cases)`);
    const cases = makeCases(prng(seed), 1500);
    const p = fx.party("0.user1", "1.user1", relay.address);
    const cred = { ca: p.relayCa, cert: p.relayCert, key: p.relayKey };
    const [a, b] = await pair(fx.party("2.user1", "3.user1", relay.address, "fuzz"), fx.party("3.user1", "2.user1", relay.address, "fuzz"));
    const flow = keepFlowing(a.socket, b.socket);
    const rssBefore = rssMiB(relay.proc.pid!);
    const outcomes = await pool(cases, 12, (c) => runCase(relay.port, cred, c));
    const bad = outcomes.map((o, i) => [o, cases[i]!] as const).filter(([o]) => o !== "400" && o !== "closed");
    assert.deepEqual(bad.slice(0, 5).map(([o, c]) => `${c.kind} (${c.bytes.length} bytes in ${c.pieces}): ${o}`), [], `seed ${seed}`);
    assert.ok(outcomes.filter((o) => o === "400").length > cases.length / 2, `seed ${seed}: most cases should get their 400`);
    // Pairs work during and after, and the busy session lost nothing.
    const [c, d] = await pair(fx.party("0.user1", "1.user1", relay.address, "after"), fx.party("1.user1", "0.user1", relay.address, "after"));
    c.socket.destroy();
    d.socket.destroy();
    assert.ok((await flow.stop()).intact, "the session lost bytes during the fuzz");
    a.socket.destroy();
    b.socket.destroy();
    // No leak: nothing waits, no connection is left over, the process is alive and its memory flat.
    // Refusals linger up to 2 s for the client to read: wait for the relay to say all are gone.
    await waitForStatus(path.join(fx.dir, "frelay.sock"), (s) => s["waiting"] === 0 && s["connections"] === 0, 10_000);
    const status = JSON.parse((await runCli(["status", "--json", "-c", fx.configFile])).stdout) as Record<string, number>;
    assert.equal(status["waiting"], 0);
    assert.equal(status["connections"], 0);
    assert.equal(relay.proc.exitCode, null);
    assert.ok(rssMiB(relay.proc.pid!) - rssBefore < 64, `relay RSS grew by ${(rssMiB(relay.proc.pid!) - rssBefore).toFixed(0)} MiB`);
  });

  it("mutated and truncated ClientHellos and raw garbage: every connection is closed, the relay keeps serving", async () => {
    const rand = prng(Number(process.env["FRELAY_FUZZ_SEED"] ?? 7));
    const hello = await captureClientHello();
    const inputs = Array.from({ length: 400 }, (_, i) => {
      const h = Buffer.from(hello);
      if (i % 3 === 0) return h.subarray(0, Math.floor(rand() * h.length)); // truncated (then FIN)
      for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) h[Math.floor(rand() * h.length)] = Math.floor(rand() * 256);
      return h;
    });
    // Every other mutated one is sent without a FIN: then nothing but the relay's own parsing
    // (or its handshake timeout, 2 s here) can close the connection.
    const closed = await pool(inputs, 16, (bytes, i) => new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port: relay.port }, () => (i % 3 !== 0 && i % 2 === 1 ? s.write(bytes) : s.end(bytes)));
      const timer = setTimeout(() => (s.destroy(), resolve(false)), 8000);
      s.on("error", () => undefined);
      s.on("close", () => (clearTimeout(timer), resolve(true)));
      s.resume();
    }));
    assert.equal(closed.filter((x) => !x).length, 0, "some connections were never closed");
    const [c, d] = await pair(fx.party("0.user1", "1.user1", relay.address, "after-hello"), fx.party("1.user1", "0.user1", relay.address, "after-hello"));
    c.socket.destroy();
    d.socket.destroy();
    assert.equal(relay.proc.exitCode, null);
  });
});

/** A real TLS 1.3 ClientHello from Node's client, captured on a plain TCP server. */
async function captureClientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const got = new Promise<Buffer>((resolve) => server.once("connection", (s) => s.once("data", (d: Buffer) => (resolve(d), s.destroy()))));
  const client = tls.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, rejectUnauthorized: false });
  client.on("error", () => undefined);
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}
