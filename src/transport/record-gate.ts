/** The hand-off's gate: feeds the outer TLS whole records, so the relay decides the exact byte where TLS stops and raw forwarding begins. */
import type * as net from "node:net";
import { Duplex, type Writable } from "node:stream";

const EMPTY = Buffer.alloc(0);
/** TLSPlaintext header: type(1) version(2) length(2). */
const HEADER = 5;
/** Largest legal TLSCiphertext fragment (RFC 8446 5.2: 2^14 + 256; RFC 5246: 2^14 + 2048). */
const MAX_FRAGMENT = 16384 + 2048;

export type GatePhase = "feeding" | "holding" | "releasing" | "detached" | "streaming";

/**
 * The byte-exact hand-off between the outer TLS (party ↔ relay) and the bare TCP connection.
 *
 * A TLSSocket reads ahead: given a TCP socket it would swallow whatever follows its last record,
 * and bytes meant for the end-to-end TLS would vanish into the outer session. So the TLSSocket
 * never sees the TCP socket. It sees this Duplex, which reads TCP itself and hands TLS
 * *one whole record per event-loop turn* ("feeding"). The owner watches the plaintext between
 * turns and, as soon as the record that completes its message has gone in, stops the feed:
 *
 *  - relay side: after the record completing the request → `hold()`; bytes arriving while the
 *    party waits break the protocol (docs/protocol.md, "Request"). When paired → `release()`: from now on what TCP
 *    delivers is end-to-end data, kept unprocessed.
 *  - party side: feeding until the outer TLS reports close_notify ('end' fires within the same
 *    turn as the record), then `detach()`.
 *
 * `detach()` stops reading, unhooks from TCP and returns the bytes received but never given to
 * TLS: the first bytes of the raw stream. Writes from TLS go straight to TCP; the end of the TLS
 * write side (after close_notify) is *not* passed on to TCP — it only emits 'tlsFinished', which
 * tells the owner that the reply and close_notify are queued on TCP ahead of any raw byte.
 */
export class RecordGate extends Duplex {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private phase: GatePhase = "feeding";
  private pumpScheduled = false;
  private rawEnded = false;
  /** TLS output while releasing (the reply and its close_notify), written to TCP in one write. */
  private reply: Buffer[] = [];
  /** What the reply must wait for before it is written (the other party's reply). */
  private notBefore: Promise<unknown> | undefined;
  /**
   * sendLast: how many chunks were held when TLS reported the reply's records written. Every
   * TLS write after that is the close_notify; the pair leaves once it is held whole.
   */
  private heldAtReplyWritten: number | undefined;
  /** The reply went out (or was dropped): the end of the TLS write side has nothing left to do. */
  private replyDone = false;

  constructor(
    private readonly raw: net.Socket,
    /** Bound on bytes buffered here; beyond it TCP reading is paused (or, while feeding, refused). */
    private readonly maxPending = 64 * 1024,
    /** Bytes already read from TCP for this connection (after a PROXY protocol header). */
    initial: Buffer = Buffer.alloc(0),
  ) {
    super({ allowHalfOpen: true });
    raw.on("data", this.onRawData);
    raw.on("end", this.onRawEnd);
    if (initial.length > 0) this.onRawData(initial);
    raw.resume();
  }

  private readonly onRawData = (chunk: Buffer): void => {
    if (this.phase === "streaming") {
      if (!this.push(chunk)) this.raw.pause();
      return;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.phase === "holding") {
      this.emit("violation", "sent data before the relay's reply");
      return;
    }
    if (this.pendingBytes > this.maxPending) {
      if (this.phase === "feeding") {
        this.destroy(new Error("handshake or request larger than allowed"));
        return;
      }
      // releasing: the peer side is not attached yet; stop reading until it is (backpressure).
      this.raw.pause();
    }
    // A record that arrives while the gate is idle goes to TLS at once, in this callback; only
    // the next one waits for a turn. Both before and after, the owner has had every tick and
    // microtask since the previous record to react (the turn the request's record used to
    // wait here was ~a fifth of a quiet relay's pairing latency).
    this.schedulePump(true);
  };

  private readonly onRawEnd = (): void => {
    this.rawEnded = true;
    if (this.phase === "streaming") {
      this.push(null);
      return;
    }
    this.emit("rawEnd");
    this.schedulePump();
  };

  override _read(): void {
    if (this.phase === "streaming") this.raw.resume();
    else this.schedulePump();
  }

  /**
   * `now`: from a TCP read callback, where a record may go to TLS at once unless one already
   * went in since the last turn (pumpScheduled stays set from a push until the turn after it).
   */
  private schedulePump(now = false): void {
    if (this.pumpScheduled || this.phase !== "feeding") return;
    if (now && this.listening) return this.pump();
    this.pumpScheduled = true;
    setImmediate(this.pump);
  }

  /** Gives TLS at most one record, then yields the turn so the owner can react to it. */
  private readonly pump = (): void => {
    this.pumpScheduled = false;
    if (this.phase !== "feeding" || this.destroyed) return;
    const record = this.takeRecord();
    if (record === "invalid") {
      this.destroy(new Error("not TLS (bad record header)"));
      return;
    }
    if (record) {
      // The next record, or the next one to arrive, waits for the turn after this one (set
      // before the push, so that nothing the push sets off schedules a second pump this turn).
      this.pumpScheduled = true;
      setImmediate(this.pump);
      this.push(record);
      return;
    }
    if (this.rawEnded) this.push(null);
  };

  /** Whether TLS takes records as they come (flowing, nothing queued): else they wait their turn. */
  private get listening(): boolean {
    return this.readableFlowing === true && this.readableLength === 0;
  }

  private takeRecord(): Buffer | null | "invalid" {
    if (this.pendingBytes < HEADER) return null;
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
    const buf = this.pending[0] as Buffer;
    const type = buf[0] as number;
    const major = buf[1] as number;
    const length = buf.readUInt16BE(3);
    // change_cipher_spec, alert, handshake, application_data, heartbeat; TLS major version 3.
    if (type < 20 || type > 24 || major !== 3 || length > MAX_FRAGMENT) return "invalid";
    const total = HEADER + length;
    if (buf.length < total) return null;
    const record = buf.subarray(0, total);
    const rest = buf.subarray(total);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return record;
  }

  /**
   * HTTP/2 chosen by ALPN: TLS stays in charge of the whole connection, so there is no hand-off
   * to protect. Everything goes to TLS as it comes, with ordinary backpressure.
   */
  stream(): void {
    this.phase = "streaming";
    const rest = this.detachPending();
    if (rest.length > 0) this.push(rest);
    if (this.rawEnded) this.push(null);
  }

  private detachPending(): Buffer {
    // Usually nothing: one shared empty buffer, not one per connection held for its lifetime.
    const rest = this.pending.length === 0 ? EMPTY : this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return rest;
  }

  /** The request is complete: TLS gets nothing more; new bytes are a protocol violation. */
  hold(): void {
    this.phase = "holding";
    if (this.pendingBytes > 0) this.emit("violation", "sent data before the relay's reply");
  }

  /**
   * The reply is going out: bytes from now on are raw stream data, kept for the splice. The
   * reply itself reaches TCP once `notBefore` resolves (never if it rejects).
   */
  private release(notBefore?: Promise<unknown>): void {
    this.phase = "releasing";
    this.notBefore = notBefore;
  }

  /**
   * Releases the gate and has `tls` send `text` as its last record(s), then close_notify (the
   * relay's Mode reply or refusal). TCP stays open; 'tlsFinished' tells when both are out.
   *
   * Why not simply write + end and wait for the end to reach this stream (_final): over a
   * JavaScript stream, Node's TLS produces the close_notify one event-loop turn after the
   * reply's records, and ends this stream a turn after that. The write's callback comes between
   * the two: by then TLS has handed over everything the reply made (with whatever it had queued
   * ahead of it, such as its own KeyUpdate), and since TLS gets no input while releasing, the
   * next thing it writes is the close_notify. Once that is held whole, the pair leaves: a turn
   * sooner, which the waiting party, whose reply waits for this one, gains as well.
   */
  sendLast(tls: Writable, text: string, notBefore?: Promise<unknown>): void {
    this.release(notBefore);
    tls.write(text, () => (this.heldAtReplyWritten = this.reply.length));
    tls.end();
  }

  /**
   * TCP delivered its end (the other side's FIN) while this gate was attached: the socket has
   * already emitted 'end' and will never emit it again, so whoever takes it over must be told.
   */
  get tcpEnded(): boolean {
    return this.rawEnded;
  }

  /** Unhooks from TCP (left paused) and returns the bytes never given to TLS. */
  detach(): Buffer {
    this.phase = "detached";
    this.raw.pause();
    this.raw.off("data", this.onRawData);
    this.raw.off("end", this.onRawEnd);
    return this.detachPending();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    // After detach the TCP connection carries raw data only; a late TLS write must not reach it.
    if (this.phase === "detached" || this.raw.destroyed) {
      cb();
      return;
    }
    if (this.phase === "releasing") {
      // The reply: held back so that it and its close_notify leave in one TCP write.
      this.reply.push(chunk);
      cb();
      const armedAt = this.heldAtReplyWritten;
      if (armedAt !== undefined && this.reply.length > armedAt && endsOnRecord(this.reply)) {
        this.heldAtReplyWritten = undefined;
        // Once this write has returned into Node's TLS (it is writing the close_notify from
        // inside its shutdown): whoever hears 'tlsFinished' may destroy that TLS socket.
        process.nextTick(() => this.sendReply(() => undefined));
      }
      return;
    }
    this.raw.write(chunk, (err) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    // The TLS layer ended its write side after the reply: close_notify is the last chunk held
    // (unless sendLast already sent the pair).
    if (this.replyDone) return cb();
    this.sendReply(cb);
  }

  /**
   * The reply and its close_notify to TCP in one write: a peer whose TLS reads ahead (Go's
   * crypto/tls does) then finds its close_notify in the same read as the reply, never a later
   * segment's bytes behind it. 'tlsFinished' fires once the kernel has the bytes: the reply is
   * on its way, ahead of any raw byte, and the relay may now answer the other party. TCP stays
   * open. Nothing is written if `notBefore` fails.
   */
  private sendReply(cb: () => void): void {
    this.replyDone = true;
    let done = false;
    const finished = () => {
      if (done) return;
      done = true;
      this.emit("tlsFinished");
      cb();
    };
    const send = () => {
      const out = this.reply.length === 1 ? (this.reply[0] as Buffer) : Buffer.concat(this.reply);
      this.reply = [];
      if (out.length === 0 || this.phase === "detached" || this.raw.destroyed) return finished();
      this.raw.write(out, finished);
      // Nothing left queued: the write went to the kernel at once (the usual case for a few
      // dozen bytes). Its callback would come a turn later, which the other party would wait for.
      if (this.raw.writableLength === 0) finished();
    };
    if (!this.notBefore) return send();
    // The reply is ready (encrypted) but must wait its turn; nothing is written if that fails.
    this.notBefore.then(send, () => {
      this.reply = [];
      cb();
    });
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.phase !== "detached") {
      this.raw.off("data", this.onRawData);
      this.raw.off("end", this.onRawEnd);
    }
    cb(err);
  }
}

/** Whether `chunks` hold whole TLS records, back to back, and nothing after the last one. */
function endsOnRecord(chunks: Buffer[]): boolean {
  const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
  let at = 0;
  while (at + HEADER <= buf.length) at += HEADER + buf.readUInt16BE(at + 3);
  return at === buf.length;
}
