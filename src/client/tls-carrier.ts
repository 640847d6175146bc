import * as net from "node:net";
import { Duplex } from "node:stream";

/**
 * What the end-to-end TLS runs on, in either role.
 *
 * Two Node behaviours lose data here, and a thin Duplex between the transport and the TLS layer
 * (one more JS hop per chunk, on the party only, never the relay) avoids both:
 *
 * - Node 20 and 22 lose data on a server-side TLSSocket built directly on a net.Socket: once it
 *   has ended its own side, the last TLS record that arrives before the peer's FIN is never
 *   delivered. Measured on this machine with two plain TLSSockets on loopback (server ends at
 *   'secure', client writes 100,000 bytes then ends): 83,616 bytes read on 20.20 and 22.23, every
 *   time; all 100,000 on 24 and 26, and on 20/22 when the TLS layer reads through a JS stream.
 * - On a JS stream (an HTTP/2 stream, or the carrier itself), Node destroys the TLSSocket as soon
 *   as that stream emits 'close', dropping decrypted bytes its reader has not taken yet (a slow
 *   stdout pauses it), with no 'end'. An HTTP/2 stream closes once both directions are done, so
 *   on Node 22-26 a slow reader of an h2 party lost its last ~33 KB of 1 MB, in either role. The
 *   carrier does not close itself (see StreamCarrier), so that 'close' comes from the TLSSocket.
 */
export function tlsCarrier(raw: Duplex, isServer: boolean): Duplex {
  if (!(raw instanceof net.Socket)) return new StreamCarrier(raw);
  const major = Number(process.versions.node.split(".")[0]);
  return isServer && major < 24 ? new StreamCarrier(raw) : raw;
}

/**
 * A stream as a plain Duplex: bytes, backpressure, half-close and errors pass through.
 *
 * It never closes itself once both directions are done (autoDestroy off): the TLSSocket on top
 * destroys it (and the stream under it) when it is itself done; a reset or an error still closes
 * it at once.
 */
class StreamCarrier extends Duplex {
  constructor(private readonly stream: Duplex) {
    super({ allowHalfOpen: true, autoDestroy: false });
    stream.on("data", (chunk: Buffer) => {
      if (!this.push(chunk)) stream.pause();
    });
    stream.on("end", () => this.push(null));
    stream.on("error", (err) => this.destroy(err));
    // Closed without its end (reset, destroyed): nothing more will come either way.
    stream.on("close", () => {
      if (!stream.readableEnded) this.destroy();
    });
  }

  override _read(): void {
    this.stream.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.stream.write(chunk, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.stream.end(cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.stream.destroy(err ?? undefined);
    cb(err);
  }
}
