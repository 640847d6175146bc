/** A party on the stream protocol after its request: its Mode reply or refusal over the outer TLS, then the bare TCP connection for the splice. */
import type * as net from "node:net";
import type * as tls from "node:tls";
import type { PartyRequest, PendingParty, RawStream } from "../relay/party";
import type { RecordGate } from "./record-gate";

const MODE_1 = JSON.stringify({ Mode: 1 });
const MODE_2 = JSON.stringify({ Mode: 2 });

/** How long a refused party gets to read its refusal before the connection is torn down. */
const REFUSAL_LINGER_MS = 2000;

/**
 * A party on the stream protocol (docs/protocol.md, "The stream protocol") whose request has been read: the outer TLS is still
 * open for the reply, and the gate holds TCP so that no raw byte is lost or misread.
 */
export class StreamParty implements PendingParty {
  private settled = false;
  private goneCallbacks: (() => void)[] = [];
  private readonly onRawClose = () => this.gone();

  constructor(
    readonly request: PartyRequest,
    private readonly raw: net.Socket,
    private readonly tlsSocket: tls.TLSSocket,
    private readonly gate: RecordGate,
    onViolation: (party: StreamParty, why: string) => void,
  ) {
    raw.once("close", this.onRawClose);
    // A FIN while waiting means the party gave up: it can no longer take part in a session.
    gate.once("rawEnd", this.onRawClose);
    gate.once("violation", (why: string) => {
      // Leave the relay's waiting table first, then refuse: the slot must not leak.
      this.notifyGone();
      onViolation(this, why);
    });
    gate.hold();
  }

  get isSettled(): boolean {
    return this.settled;
  }

  private gone(): void {
    if (this.settled) return;
    this.settled = true;
    this.notifyGone();
    this.raw.destroy();
  }

  private notifyGone(): void {
    for (const cb of this.goneCallbacks.splice(0)) cb();
  }

  onGone(cb: () => void): void {
    if (this.settled) return;
    this.goneCallbacks.push(cb);
  }

  refuse(code: number, reason: string): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    this.goneCallbacks = [];
    return sendRefusal(this.raw, this.tlsSocket, this.gate, code, reason);
  }

  async accept(mode: 1 | 2, notBefore?: Promise<unknown>): Promise<RawStream> {
    if (this.settled) throw new Error(`${this.request.identity} left before the reply`);
    this.settled = true;
    this.goneCallbacks = [];
    // Idle sessions are held by the thousand: nothing of the handshake (TLS socket, gate, this
    // party) may stay reachable from the raw socket once it is handed over.
    this.raw.off("close", this.onRawClose);
    // Plain listeners, removed by hand: once() with an AbortSignal built an AbortError (a
    // DOMException with its stack) for the losing listener of every reply, ~2% of the relay's
    // CPU per session in the profile.
    let onFinished!: () => void;
    let onClose!: () => void;
    const replied = new Promise<void>((resolve, reject) => {
      onFinished = resolve;
      onClose = () => reject(new Error(`${this.request.identity} disconnected during the reply`));
      this.gate.once("tlsFinished", onFinished);
      this.raw.once("close", onClose);
      // The peer's reply failed: this one is never written (the gate drops it) and the pair is off.
      notBefore?.then(undefined, reject);
    });
    // Exactly {"Mode":n} in one record, then close_notify; TCP stays open (see RecordGate).
    this.gate.sendLast(this.tlsSocket, mode === 1 ? MODE_1 : MODE_2, notBefore);
    try {
      await replied;
    } catch (err) {
      this.tlsSocket.destroy();
      this.raw.destroy();
      throw err;
    } finally {
      this.gate.off("tlsFinished", onFinished);
      this.raw.off("close", onClose);
    }
    const leftover = this.gate.detach();
    this.tlsSocket.destroy();
    return { stream: this.raw, leftover };
  }
}

/** One TLS record {"Mode":0,"Code":c,"Error":"..."}, close_notify, then FIN; bounded linger. */
export function sendRefusal(raw: net.Socket, tlsSocket: tls.TLSSocket, gate: RecordGate, code: number, reason: string): Promise<void> {
  gate.sendLast(tlsSocket, JSON.stringify({ Mode: 0, Code: code, Error: reason }));
  gate.once("tlsFinished", () => {
    gate.detach();
    tlsSocket.destroy();
    raw.end();
    raw.resume(); // drain whatever the party still sends, so its FIN can arrive
  });
  setTimeout(() => raw.destroy(), REFUSAL_LINGER_MS).unref();
  // Out: the reply and our FIN are with the kernel ('finish'), or the connection is gone.
  return new Promise((resolve) => {
    raw.once("finish", resolve);
    raw.once("close", resolve);
  });
}
