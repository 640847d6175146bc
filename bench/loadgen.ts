import { fork } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";

/**
 * The load generator every path is measured with. For plain TCP pairs (direct, socat, frelay's
 * stream protocol after its hand-off) pumpApart writes from one child process and counts in
 * another, so the sender, the receiver and the relay each have a process (and a core) of their
 * own; direct TCP through the same two processes is its ceiling. pump, in this process, is for
 * streams that cannot change process (HTTP/2) and for small checks.
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
    writeBytes(sender, bytes, CHUNK);
  });
}

/** Writes `bytes` bytes of `chunk` (repeated) to `sender`, waiting for 'drain' whenever it asks. */
export function writeBytes(sender: Duplex, bytes: number, chunk: Buffer): void {
  let sent = 0;
  const write = () => {
    while (sent < bytes) {
      const n = Math.min(chunk.length, bytes - sent);
      sent += n;
      if (!sender.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        sender.once("drain", write);
        return;
      }
    }
  };
  write();
}

/** A plain TCP socket, whose descriptor a child process can take over. */
const plainSocket = (s: Duplex): s is net.Socket => s instanceof net.Socket && !(s instanceof tls.TLSSocket);

export function canPumpApart(pairs: BytePair[]): boolean {
  return pairs.every((p) => plainSocket(p.sender) && plainSocket(p.receiver));
}

/**
 * Sends `bytesEach` one way over every pair at once from a sender process to a receiver process
 * (bench/pump-child.ts), each given the pairs' descriptors; resolves with the wall time in ms
 * from "go" to the receiver having counted every byte. `counted` runs at that moment, before
 * the FINs (for the relay's CPU time); then each pair must end with exactly `bytesEach`. The
 * sockets here are closed: the children own the connections (reads here would race theirs).
 */
export async function pumpApart(pairs: BytePair[], bytesEach: number, counted: () => void = () => undefined, timeoutMs = 120_000): Promise<number> {
  const child = (role: "send" | "receive", sockets: net.Socket[]) => {
    const c = fork(path.join(__dirname, "pump-child.js"), [role, String(bytesEach), String(sockets.length)], {
      stdio: ["ignore", "inherit", "inherit", "ipc", ...sockets],
    });
    const said = (what: string) =>
      new Promise<void>((resolve, reject) => {
        c.on("message", (m: string | { error: string }) => {
          if (m === what) resolve();
          else if (typeof m === "object") reject(new Error(`load generator (${role}): ${m.error}`));
        });
        c.once("exit", (code) => reject(new Error(`load generator (${role}) exited with ${code} before it said ${what}`)));
      });
    const ready = said("ready");
    const count = said("counted");
    const done = said("done");
    for (const p of [ready, count, done]) p.catch(() => undefined);
    return { c, ready, count, done };
  };
  const senders = pairs.map((p) => p.sender as net.Socket);
  const receivers = pairs.map((p) => p.receiver as net.Socket);
  for (const s of [...senders, ...receivers]) s.pause();
  const rx = child("receive", receivers);
  const tx = child("send", senders);
  for (const s of [...senders, ...receivers]) s.destroy(); // the children hold their own copies
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the pairs did not carry ${bytesEach} bytes each within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.all([rx.ready, tx.ready]), timeout]);
    const t0 = performance.now();
    tx.c.send("go");
    await Promise.race([rx.count, tx.done, timeout]); // tx.done only ever rejects here
    const ms = performance.now() - t0;
    counted();
    tx.c.send("end");
    await Promise.race([Promise.all([rx.done, tx.done]), timeout]);
    return ms;
  } finally {
    clearTimeout(timer);
    for (const { c } of [rx, tx]) if (c.exitCode === null) c.kill();
  }
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
