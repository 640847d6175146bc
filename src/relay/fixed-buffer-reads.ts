import * as net from "node:net";
import type { Duplex } from "node:stream";
import * as tls from "node:tls";

/**
 * Reads into one fixed buffer per direction instead of a fresh 64 KiB allocation per read.
 *
 * Node's default read path allocates a new buffer for every read; at relay speeds that is
 * tens of thousands of short-lived 64 KiB buffers per second, and the bench's profile showed
 * V8's major GC (driven by that external memory) taking about a fifth of the relay's CPU.
 * Node supports reading into a caller's buffer (net.connect's `onread`), but only for sockets
 * it creates; for accepted sockets the same mechanism is reached through the socket's own
 * fields, found by their symbol descriptions. Where they are missing (another Node version),
 * `readIntoFixedBuffer` returns false and the caller keeps the ordinary 'data' path.
 *
 * Safety: every chunk is written straight on. If the write completes synchronously (the usual
 * case), the buffer is free for the next read. If not, the queued write still points into the
 * buffer, so reading stops (the callback returns false) until the destination drains.
 */
interface UserBufferFields {
  kBuffer: symbol;
  kBufferCb: symbol;
  kBufferGen: symbol;
}

let fields: UserBufferFields | null | undefined;

function userBufferFields(socket: net.Socket): UserBufferFields | null {
  if (fields !== undefined) return fields;
  const bySymbol = new Map(Object.getOwnPropertySymbols(socket).map((s) => [s.description, s]));
  const [kBuffer, kBufferCb, kBufferGen] = [bySymbol.get("kBuffer"), bySymbol.get("kBufferCb"), bySymbol.get("kBufferGen")];
  fields = kBuffer && kBufferCb && kBufferGen ? { kBuffer, kBufferCb, kBufferGen } : null;
  return fields;
}

const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Switches `src` (a TCP socket that is flowing, with nothing buffered) to fixed-buffer reads
 * whose bytes are written to `to` and counted by `onBytes`. Returns false if not possible.
 */
export function readIntoFixedBuffer(src: Duplex, to: Duplex, onBytes: (n: number) => void): boolean {
  // Plain TCP sockets only: not HTTP/2 streams, not TLS.
  if (!(src instanceof net.Socket) || src instanceof tls.TLSSocket) return false;
  const socket = src as net.Socket & Record<symbol, unknown> & { _handle?: { useUserBuffer?: (b: Buffer) => void } };
  const f = userBufferFields(socket);
  const handle = socket._handle;
  if (!f || !handle || typeof handle.useUserBuffer !== "function") return false;
  if (src.readableLength > 0 || src.readableFlowing !== true || src.destroyed) return false;
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  socket[f.kBuffer] = buffer;
  socket[f.kBufferGen] = null;
  const resumeWhenFlushed = () => {
    if (src.destroyed) return;
    if (to.writableLength === 0) src.resume();
    else setImmediate(resumeWhenFlushed);
  };
  socket[f.kBufferCb] = (nread: number, buf: Buffer): boolean => {
    onBytes(nread);
    to.write(buf.subarray(0, nread));
    if (to.writableLength === 0) return true;
    // A write still queued points into `buf`: read no more until it is out. Above the
    // high-water mark 'drain' will resume reading (the splice listens); below it no 'drain'
    // comes, so watch the queue empty.
    if (!to.writableNeedDrain) setImmediate(resumeWhenFlushed);
    return false;
  };
  handle.useUserBuffer(buffer);
  return true;
}
