import { after, before, describe, it } from "node:test";
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { RecordGate } from "../../../src/transport/record-gate";
import { makeFixture, type Fixture } from "../../helpers/fixture";
import { requireTool } from "../../helpers/require-tool";

/** What the relay side saw: the gate's write side at 'tlsFinished', and each TCP write's TLS records (type:length). */
interface RelaySide {
  endedAtSend: boolean;
  writes: string[][];
}

/** The TLS records in `b`, as "type:length". */
function records(b: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at + 5 <= b.length; at += 5 + b.readUInt16BE(at + 3)) out.push(`${b[at]}:${b.readUInt16BE(at + 3)}`);
  return out;
}

/**
 * A relay side over a RecordGate: on the first request bytes, `sendLast(text)`. Resolves once
 * 'tlsFinished' has fired, with every TCP write made after the request.
 */
async function relayOnce(context: tls.SecureContext, text: string, requestCert: boolean): Promise<{ port: number; side: Promise<RelaySide>; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const side = new Promise<RelaySide>((resolve, reject) => {
    server.once("connection", (raw) => {
      raw.setNoDelay(true);
      const gate = new RecordGate(raw);
      const tlsSocket = new tls.TLSSocket(gate, { isServer: true, secureContext: context, requestCert, rejectUnauthorized: requestCert });
      tlsSocket.on("error", reject);
      tlsSocket.once("data", () => {
        const writes: string[][] = [];
        const write = raw.write.bind(raw) as (chunk: Buffer, ...rest: unknown[]) => boolean;
        raw.write = (chunk: Buffer, ...rest: unknown[]) => (writes.push(records(chunk)), write(chunk, ...rest));
        gate.once("tlsFinished", () => {
          resolve({ endedAtSend: gate.writableEnded, writes });
          gate.detach();
          tlsSocket.destroy();
        });
        gate.sendLast(tlsSocket, text);
      });
    });
  });
  return { port: (server.address() as net.AddressInfo).port, side, close: () => server.close() };
}

/**
 * The relay's reply over a JavaScript stream: Node's TLS hands the gate the reply's record, then
 * (a turn later) its close_notify, then (another turn later) ends the gate's write side. The
 * pair must leave, in one TCP write, as soon as the close_notify exists: the waiting party's
 * reply waits for this one, and every turn is on the pairing's critical path.
 */
describe("record gate: the last record and close_notify leave as soon as both exist", () => {
  let fx: Fixture;
  let context: tls.SecureContext;
  before(() => {
    fx = makeFixture([["0", "user1"]]);
    const read = (f: string) => fs.readFileSync(`${fx.certsDir}/${f}`);
    context = tls.createSecureContext({ ca: read("relay-ca.pem"), cert: read("relay.pem"), key: read("relay.key") });
  });
  after(() => fx.cleanup());

  it("sends before the TLS layer's end reaches the gate, and the party reads the reply, then close_notify", { timeout: 20_000 }, async () => {
    const relay = await relayOnce(context, '{"Mode":1}', true);
    const party = fx.party("0.user1", "1.user1", "");
    const client = tls.connect({ host: "127.0.0.1", port: relay.port, ca: party.relayCa, cert: party.relayCert, key: party.relayKey, servername: "frelay" });
    const seen: string[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      client.on("error", reject);
      client.on("data", (c: Buffer) => seen.push(c.toString()));
      client.on("end", resolve);
    });
    // Sent at once, before the relay's session tickets are out: as a Flock client does.
    client.once("secureConnect", () => client.write('{"DestParty":"1.user1"}'));
    const side = await relay.side;
    await ended;
    client.destroy();
    relay.close();
    assert.equal(side.endedAtSend, false, "the reply waited for the TLS layer to end the gate's write side (two event-loop turns late)");
    assert.equal(side.writes.length, 1, `the reply and its close_notify went to TCP in more than one write: ${JSON.stringify(side.writes)}`);
    assert.deepEqual(seen, ['{"Mode":1}'], "the party read something other than the reply before close_notify");
  });

  // A client may ask for short records (max_fragment_length, which OpenSSL honours): then the
  // reply is several records, and only the close_notify after them may let the pair go.
  it("a reply cut into several records (512-byte fragments) still leaves with its close_notify", { timeout: 20_000, skip: requireTool("openssl") }, async () => {
    const relay = await relayOnce(context, JSON.stringify({ Mode: 0, Code: 403, Error: "x".repeat(600) }), false);
    const sawCloseNotify = await sClient(relay, ["-maxfraglen", "512", "-ign_eof"], []);
    const side = await relay.side;
    relay.close();
    assert.ok(side.writes.flat().length >= 3, `the reply should be several records plus close_notify: ${JSON.stringify(side.writes)}`);
    assert.equal(side.writes.length, 1, `the reply and its close_notify went to TCP in more than one write: ${JSON.stringify(side.writes)}`);
    assert.ok(sawCloseNotify, `the party never got the close_notify after its reply (relay wrote ${JSON.stringify(side.writes)})`);
  });

  // A party may ask for a key update (TLS 1.3): OpenSSL sends its own ahead of its next write,
  // the reply, so the reply's write is two records, and still not the close_notify.
  it("a reply behind a KeyUpdate the party asked for still leaves with its close_notify", { timeout: 20_000, skip: requireTool("openssl") }, async () => {
    const relay = await relayOnce(context, '{"Mode":1}', false);
    // s_client's "K" line asks for a KeyUpdate with update_requested (commands need no -ign_eof).
    const sawCloseNotify = await sClient(relay, [], [["K\n", ">>> TLS 1.3, Handshake [length 0005], KeyUpdate"]]);
    const side = await relay.side;
    relay.close();
    assert.equal(side.writes.flat().length, 3, `KeyUpdate, reply and close_notify expected: ${JSON.stringify(side.writes)}`);
    assert.equal(side.writes.length, 1, `the reply and its close_notify went to TCP in more than one write: ${JSON.stringify(side.writes)}`);
    assert.ok(sawCloseNotify, `the party never got the close_notify after its reply (relay wrote ${JSON.stringify(side.writes)})`);
  });
});

/**
 * `openssl s_client` (TLS 1.3, -msg) against `relay`: once connected, each step's line is typed
 * and its echo awaited, then the request. Resolves with whether the close_notify arrived.
 */
async function sClient(relay: { port: number; side: Promise<RelaySide> }, args: string[], steps: [line: string, seen: string][]): Promise<boolean> {
  const client = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${relay.port}`, "-tls1_3", "-msg", ...args], { stdio: ["pipe", "pipe", "ignore"] });
  let out = "";
  const seen = (text: string) =>
    new Promise<boolean>((resolve) => {
      const check = () => out.includes(text) && resolve(true);
      client.stdout.on("data", check);
      check();
      client.once("exit", () => resolve(out.includes(text)));
      setTimeout(() => resolve(false), 5000).unref();
    });
  client.stdout.on("data", (c: Buffer) => (out += c.toString()));
  try {
    // The handshake is done once the session's details are printed.
    if (!(await seen("Verify return code"))) throw new Error(`s_client did not connect: ${out.slice(-500)}`);
    for (const [line, echo] of steps) {
      client.stdin.write(line);
      if (!(await seen(echo))) throw new Error(`s_client never showed ${echo}: ${out.slice(-500)}`);
    }
    client.stdin.write('{"DestParty":"1.user1"}\n');
    await relay.side;
    return await seen("<<< TLS 1.3, Alert [length 0002], warning close_notify");
  } finally {
    client.kill();
  }
}
