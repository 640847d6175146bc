import * as net from "node:net";
import { Duplex } from "node:stream";

/**
 * What the end-to-end TLS server (Mode 1) runs on.
 *
 * Node 20 and 22 lose data on a server-side TLSSocket built directly on a net.Socket: once it
 * has ended its own side, the last TLS record that arrives before the peer's FIN is never
 * delivered. Measured on this machine with two plain TLSSockets on loopback (server ends at
 * 'secure', client writes 100,000 bytes then ends): 83,616 bytes read on 20.20 and 22.23, every
 * time; all 100,000 on 24 and 26, and on 20/22 when the TLS layer reads through a JS stream
 * instead of the socket's native handle. So on those lines the socket is handed to TLS behind
 * this thin Duplex (one more JS hop per chunk, on the party only, never the relay).
 */
export function tlsServerCarrier(raw: Duplex): Duplex {
  const major = Number(process.versions.node.split(".")[0]);
  return raw instanceof net.Socket && major < 24 ? new SocketCarrier(raw) : raw;
}

/**
 * A net.Socket as a plain Duplex: bytes, backpressure, half-close and errors pass through.
 *
 * It never closes itself once both directions are done (autoDestroy off): Node's TLS layer
 * destroys the TLSSocket the moment the stream under it emits 'close', and that TLSSocket may
 * still hold decrypted bytes its reader has not taken (a slow stdout pauses it), which a destroy
 * throws away, with no 'end' ever emitted. The TLSSocket closes this carrier itself when it is
 * done, and the socket with it; a reset or an error still closes it at once.
 */
class SocketCarrier extends Duplex {
  constructor(private readonly socket: net.Socket) {
    super({ allowHalfOpen: true, autoDestroy: false });
    socket.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (err) => this.destroy(err));
    // Closed without its end (reset, destroyed): nothing more will come either way.
    socket.on("close", () => {
      if (!socket.readableEnded) this.destroy();
    });
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.socket.destroy(err ?? undefined);
    cb(err);
  }
}
