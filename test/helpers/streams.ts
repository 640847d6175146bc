import * as crypto from "node:crypto";
import * as net from "node:net";
import type { Readable } from "node:stream";

export function sha256(b: Buffer): string {
  return crypto.createHash("sha256").update(b).digest("hex");
}

/** Everything a stream yields until its end, bounded by a timeout. */
export function readAll(s: Readable, timeoutMs = 20000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error("stream did not end in time")), timeoutMs);
    s.on("data", (c: Buffer) => parts.push(c));
    s.once("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts));
    });
    s.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A connected pair of real TCP sockets on 127.0.0.1 (both half-open capable): [accepted, dialed]. */
export async function tcpPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const dialed = net.connect({ host: "127.0.0.1", port: (server.address() as net.AddressInfo).port, allowHalfOpen: true });
  const pair: [net.Socket, net.Socket] = [await accepted, dialed];
  server.close();
  return pair;
}
