/**
 * One side of the benchmark's load generator, in a process of its own (see pumpApart in
 * loadgen.ts): `send` writes, `receive` counts. Its sockets arrive as descriptors 4, 5, …
 * (stdio slots after the IPC channel at 3), one per pair; argv: role, bytes per socket, count.
 *   ← "ready" once every socket is open here
 *   → "go" (sender): write `bytes` on each socket      ← "counted" (receiver): all bytes are here
 *   → "end" (sender): FIN on each socket               ← "done" (both): each ended with exactly `bytes`
 *   ← { error } when a socket did not (short, long, reset)
 * The FINs wait for "end" so that a relay's per-connection processes (socat forks one) are
 * still alive when the parent reads their CPU time.
 */
import * as net from "node:net";
import { writeBytes } from "./loadgen";

const [role, bytesText, countText] = process.argv.slice(2);
const bytes = Number(bytesText);
const count = Number(countText);
const FIRST_FD = 4;
/** Writes and reads in large pieces: per-call costs here would be counted against the relay. */
const CHUNK = Buffer.alloc(4 * 1024 * 1024, 0x5a);
const READ_BUFFER = Buffer.allocUnsafe(4 * 1024 * 1024);

let left = count;
let toCount = count;
const fail = (error: string) => {
  process.send!({ error }, () => process.exit(1));
};
const oneDone = () => {
  if (--left === 0) process.send!("done", () => process.exit(0));
};

function receiver(fd: number): void {
  let got = 0;
  const s = new net.Socket({
    fd,
    readable: true,
    writable: true,
    allowHalfOpen: true,
    // One reusable buffer, filled by the kernel as far as it will: no allocation per read.
    onread: {
      buffer: READ_BUFFER,
      callback: (n: number) => {
        const before = got;
        got += n;
        if (before < bytes && got >= bytes && --toCount === 0) process.send!("counted");
        return true;
      },
    },
  } as net.SocketConstructorOpts); // Node takes onread here too; its typings list it for connect() only
  s.on("error", (err) => fail(`receiver ${fd}: ${err.message} after ${got} of ${bytes} bytes`));
  s.on("end", () => {
    if (got !== bytes) return fail(`receiver ${fd}: the stream ended after ${got} bytes, ${bytes} were sent`);
    s.end();
    oneDone();
  });
}

function sender(fd: number): net.Socket {
  const s = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
  s.on("error", (err) => fail(`sender ${fd}: ${err.message}`));
  s.resume(); // reads nothing (one way), but sees the peer's FIN so the socket can close
  return s;
}

const fds = Array.from({ length: count }, (_, i) => FIRST_FD + i);
const senders = role === "send" ? fds.map(sender) : [];
if (role === "receive") fds.forEach(receiver);
process.send!("ready");
process.on("message", (m) => {
  if (m === "go") for (const s of senders) writeBytes(s, bytes, CHUNK);
  if (m === "end") for (const s of senders) s.end(() => oneDone());
});
