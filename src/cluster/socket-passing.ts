/**
 * Passing a party's TCP connection from one process to the next (worker → primary → worker)
 * without losing a byte or changing their order, through Node's public API only.
 *
 * Node offers no public way to stop libuv reading a socket: pause() only stops delivery, and
 * libuv goes on filling the socket's buffer. Handing a socket over the default way (`send(msg,
 * socket)`) makes matters worse: Node swaps the handle's read callback for a no-op and keeps
 * the descriptor open until the receiver acknowledges it, so whatever it reads in between is
 * dropped. Hence:
 *
 * - each holder sends the descriptor with `keepOpen`, so its socket stays whole, and destroys
 *   the socket in the send's callback: from then on it reads nothing. What it read meanwhile is
 *   in the socket's buffer, not lost, and follows the descriptor in a message of its own
 *   ("released" from the worker that accepted the party, "passed" from the primary);
 * - the receiver puts the bytes together only once both messages are in: the bytes read before
 *   the first send, then the holders' late bytes, then its own reads.
 *
 * A party that keeps to the protocol sends nothing during a hand-over (it is the end-to-end TLS
 * server, and its peer's ClientHello comes only after the receiver has the whole connection),
 * so the late bytes are empty. A party that does send meanwhile may have its bytes read by two
 * processes at once, in an order nobody can know: then the connection is cut rather than spliced
 * with its bytes possibly reordered.
 */
import type * as net from "node:net";

/** How long the receiver waits for the holders' word once the connection itself has arrived. */
export const RELEASE_TIMEOUT_MS = 5000;

/** The bytes Node has read from `sock` and nobody consumed (it must be paused). */
export function readBuffered(sock: net.Socket): Buffer {
  const chunks: Buffer[] = [];
  for (let c: unknown; (c = sock.read()) !== null; ) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Sends `sock` on with `send` (which must pass `{ keepOpen: true }`), then lets go of it here.
 * `done` gets the bytes this process read after the send began, for the receiver.
 */
export function passOn(sock: net.Socket, send: (sock: net.Socket, cb: (err: Error | null) => void) => void, done: (err: Error | null, late: Buffer) => void): void {
  sock.pause();
  send(sock, (err) => {
    const late = readBuffered(sock);
    // The descriptor is in the receiver's hands (or the send failed): either way not ours.
    // Destroying closes this process's descriptor only; the connection lives on in the receiver.
    sock.destroy();
    done(err, late);
  });
}

/** A holder of a passed connection, set up as a listener sets up its own before passing it on. */
export function holdWhilePassing(sock: net.Socket): void {
  // Node builds a received socket with allowHalfOpen false: reading the party's FIN here would
  // shut down the connection's sending side for every holder.
  sock.allowHalfOpen = true;
  sock.on("error", () => undefined); // the receiver meets the error itself
}

export type Arrived = { ok: true; sock: net.Socket; leftover: Buffer } | { ok: false; sock: net.Socket; reason: string };

/**
 * The receiver's side: connections that have arrived, each waiting for its holders' late bytes.
 * `onDone` gets each one once, complete, cut, or timed out.
 */
export class Arrivals {
  private readonly waiting = new Map<string, { sock: net.Socket; leftover: Buffer; late: { released?: Buffer; passed?: Buffer }; timer: NodeJS.Timeout }>();

  constructor(private readonly onDone: (key: string, arrived: Arrived) => void) {}

  /** The connection itself, with the bytes its first holder read before sending it. */
  arrived(key: string, sock: net.Socket, leftover: Buffer): void {
    holdWhilePassing(sock);
    sock.pause();
    const timer = setTimeout(() => this.finish(key, `the workers passing it on did not release it within ${RELEASE_TIMEOUT_MS / 1000}s`), RELEASE_TIMEOUT_MS);
    this.waiting.set(key, { sock, leftover, late: {}, timer });
  }

  /** A holder let go of it: `from` says which, `late` what it read meanwhile. */
  released(key: string, from: "released" | "passed", late: Buffer): void {
    const a = this.waiting.get(key);
    if (!a) return;
    a.late[from] = late;
    if (a.late.released && a.late.passed) this.finish(key);
  }

  close(): void {
    for (const key of [...this.waiting.keys()]) this.finish(key, "worker stopping");
  }

  private finish(key: string, failed?: string): void {
    const a = this.waiting.get(key);
    if (!a) return;
    clearTimeout(a.timer);
    this.waiting.delete(key);
    const { released = Buffer.alloc(0), passed = Buffer.alloc(0) } = a.late;
    const readers = [released.length, passed.length, a.sock.readableLength].filter((n) => n > 0).length;
    const reason = failed ?? (readers > 1 ? "the party sent bytes while its connection was being passed on, read by more than one process (their order is unknown)" : undefined);
    if (reason) {
      a.sock.destroy();
      return this.onDone(key, { ok: false, sock: a.sock, reason });
    }
    this.onDone(key, { ok: true, sock: a.sock, leftover: Buffer.concat([a.leftover, released, passed]) });
  }
}
