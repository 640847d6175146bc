import * as net from "node:net";

/**
 * A TCP proxy in a process of its own (so the parties' work in the test process cannot delay
 * its reads): forwards 127.0.0.1:<port> → the relay and prints every relay → party read as one
 * JSON line {conn, seq, ns, data} (base64), in the order the reads happened, *before* passing
 * the bytes on. Its first line is {listening: port}. Started by wire-tap.ts.
 */
const upstreamPort = Number(process.argv[2]);
let seq = 0;
let conns = 0;
const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

const server = net.createServer({ allowHalfOpen: true }, (party) => {
  const conn = conns++;
  const relay = net.connect({ host: "127.0.0.1", port: upstreamPort, allowHalfOpen: true });
  for (const s of [party, relay]) {
    s.setNoDelay(true);
    s.on("error", () => undefined);
  }
  party.pipe(relay);
  relay.on("data", (bytes: Buffer) => {
    out({ conn, seq: seq++, ns: String(process.hrtime.bigint()), data: bytes.toString("base64") });
    party.write(bytes);
  });
  relay.on("end", () => party.end());
  party.on("close", () => relay.destroy());
  relay.on("close", () => party.destroy());
});
server.listen(0, "127.0.0.1", () => out({ listening: (server.address() as net.AddressInfo).port }));
process.stdin.on("end", () => process.exit(0)); // the test went away
process.stdin.resume();
