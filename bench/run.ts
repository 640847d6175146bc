/**
 * npm run bench: what frelay costs, as medians and ratios against a reference measured in the
 * same run (the machine is shared and noisy; absolute numbers mean little).
 *
 *  1. throughput: 64 MiB one way over end-to-end TLS, through the relay process vs. the same
 *     TLS directly over loopback (reference);
 *  2. pairing: time until both parties hold a verified end-to-end connection, through the relay
 *     vs. a direct mutual-TLS handshake (reference);
 *  3. memory: the relay's RSS per idle session, as the slope over 0 → 200 → 400 sessions.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as tls from "node:tls";
import { connect, type RelayedConnection } from "../src/client/connect";
import { makeFixture } from "../test/helpers/fixture";
import { startForeground } from "../test/helpers/cli";

const MiB = 1024 * 1024;
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const SIZE = Number(process.env["BENCH_MIB"] ?? 64) * MiB;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function transfer(sender: tls.TLSSocket, receiver: tls.TLSSocket, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(256 * 1024, 7);
  const t0 = process.hrtime.bigint();
  const done = new Promise<void>((resolve) => {
    let got = 0;
    receiver.on("data", (c: Buffer) => {
      got += c.length;
      if (got >= bytes) resolve();
    });
  });
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!sender.write(chunk)) await new Promise((r) => sender.once("drain", r));
  }
  await done;
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** A direct end-to-end TLS pair over loopback with the same certificates: the reference. */
async function directPair(server: tls.Server, port: number, client: tls.ConnectionOptions): Promise<[tls.TLSSocket, tls.TLSSocket]> {
  const accepted = new Promise<tls.TLSSocket>((r) => server.once("secureConnection", r));
  const c = tls.connect({ ...client, port, host: "127.0.0.1" });
  await new Promise((r) => c.once("secureConnect", r));
  return [c, await accepted];
}

function rssKb(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(line?.replace(/\D+/g, ""));
}

async function main(): Promise<void> {
  const fx = makeFixture();
  fx.writeConfig({ timeouts: { handshake: "10s", pair: "60s", idle: "0s", drain: "1s" }, log: { level: "info" } });
  const relay = await startForeground(fx.configFile);
  const a = fx.party("0.user1", "1.user1", relay.address);
  const b = fx.party("1.user1", "0.user1", relay.address);
  const relayed = async (tag: string): Promise<[RelayedConnection, RelayedConnection]> => {
    const first = connect({ ...a, tag });
    await new Promise((r) => setTimeout(r, 5));
    return Promise.all([first, connect({ ...b, tag })]);
  };
  const server = tls.createServer({ cert: b.partyCert, key: b.partyKey, ca: b.userCa, requestCert: true, rejectUnauthorized: true });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const clientOpts = { cert: a.partyCert, key: a.partyKey, ca: a.userCa, servername: "1.user1" };

  const through: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const [x, y] = await directPair(server, port, clientOpts);
    direct.push(await transfer(x, y, SIZE));
    x.destroy();
    y.destroy();
    const [p, q] = await relayed(`tp${i}`);
    through.push(await transfer(p.socket, q.socket, SIZE));
    p.socket.destroy();
    q.socket.destroy();
  }
  const mbps = (ms: number) => (SIZE / MiB / (ms / 1000)).toFixed(0);
  console.log(`throughput, ${SIZE / MiB} MiB over e2e TLS, median of ${RUNS}:`);
  console.log(`  direct TLS (reference): ${mbps(median(direct))} MiB/s`);
  console.log(`  through frelay:         ${mbps(median(through))} MiB/s  (ratio ${(median(direct) / median(through)).toFixed(2)} of reference)`);

  const pairRelay: number[] = [];
  const pairDirect: number[] = [];
  for (let i = 0; i < 50; i++) {
    let t0 = performance.now();
    const [x, y] = await directPair(server, port, clientOpts);
    pairDirect.push(performance.now() - t0);
    x.destroy();
    y.destroy();
    t0 = performance.now();
    const [p, q] = await relayed(`pl${i}`);
    pairRelay.push(performance.now() - t0 - 5);
    p.socket.destroy();
    q.socket.destroy();
  }
  console.log(`pairing latency, median of 50:`);
  console.log(`  direct mTLS handshake (reference): ${median(pairDirect).toFixed(1)} ms`);
  console.log(`  relay mTLS ×2 + pairing + e2e mTLS: ${median(pairRelay).toFixed(1)} ms  (${(median(pairRelay) / median(pairDirect)).toFixed(1)}× reference)`);

  const held: RelayedConnection[] = [];
  const points: [number, number][] = [];
  await new Promise((r) => setTimeout(r, 500));
  points.push([0, rssKb(relay.proc.pid!)]);
  for (const target of [200, 400]) {
    while (held.length / 2 < target) held.push(...(await relayed(`m${held.length}`)));
    await new Promise((r) => setTimeout(r, 1000));
    points.push([target, rssKb(relay.proc.pid!)]);
  }
  const slope = ((points[2]![1] - points[1]![1]) / 200).toFixed(1);
  console.log(`relay RSS: ${points.map(([n, kb]) => `${n} sessions ${(kb / 1024).toFixed(0)} MiB`).join(", ")}; slope ${slope} KiB per idle session (200 → 400)`);
  for (const c of held) c.socket.destroy();

  server.close();
  await relay.stop();
  fx.cleanup();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
