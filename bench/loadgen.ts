import * as net from "node:net";
import type { Duplex } from "node:stream";

/**
 * The one load generator every path is measured with: it holds both ends of each connection,
 * writes from one and counts at the other. Its own ceiling is measured the same way over a
 * direct TCP connection, so a relay figure close to it would say "the generator limits here".
 */
export interface BytePair {
  sender: Duplex;
  receiver: Duplex;
}

/** One shared, never-modified chunk: writes queue references to it, no copy per write. */
const CHUNK = Buffer.alloc(1024 * 1024, 0x5a);

/** Sends `bytesEach` one way over every pair at once; resolves with the wall time in ms. */
export async function pump(pairs: BytePair[], bytesEach: number, timeoutMs = 120_000): Promise<number> {
  const t0 = performance.now();
  await Promise.all(pairs.map((p) => pumpOne(p, bytesEach, timeoutMs)));
  return performance.now() - t0;
}

function pumpOne({ sender, receiver }: BytePair, bytes: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(() => reject(new Error(`only ${got} of ${bytes} bytes arrived within ${timeoutMs} ms`)), timeoutMs);
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= bytes) {
        receiver.off("data", onData);
        clearTimeout(timer);
        resolve();
      }
    };
    receiver.on("data", onData);
    receiver.once("error", reject);
    sender.once("error", reject);
    let sent = 0;
    const write = () => {
      while (sent < bytes) {
        const n = Math.min(CHUNK.length, bytes - sent);
        sent += n;
        if (!sender.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          sender.once("drain", write);
          return;
        }
      }
    };
    write();
  });
}

/** A TCP server on 127.0.0.1 whose accepted connections are handed out in arrival order. */
export class Sink {
  private readonly server = net.createServer({ noDelay: true }, (s) => this.accepted(s));
  private readonly ready: net.Socket[] = [];
  private readonly waiting: ((s: net.Socket) => void)[] = [];
  port = 0;

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  private accepted(s: net.Socket): void {
    s.on("error", () => undefined);
    const w = this.waiting.shift();
    if (w) w(s);
    else this.ready.push(s);
  }

  next(): Promise<net.Socket> {
    const s = this.ready.shift();
    return s ? Promise.resolve(s) : new Promise((r) => this.waiting.push(r));
  }

  /** A connection through `port` (this sink's own for a direct pair) and its far end here. */
  async pair(port = this.port): Promise<BytePair & { close(): void }> {
    const sender = net.connect({ host: "127.0.0.1", port, noDelay: true });
    sender.on("error", () => undefined);
    await new Promise((r) => sender.once("connect", r));
    const receiver = await this.next();
    return { sender, receiver, close: () => (sender.destroy(), receiver.destroy()) };
  }

  close(): void {
    this.server.close();
  }
}
