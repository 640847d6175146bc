/** A party on an HTTP/2 stream: its answer once paired or refused, then the stream's two bodies as its raw stream. */
import type * as http2 from "node:http2";
import { constants as http2constants } from "node:http2";
import type { PartyRequest, PendingParty, RawStream } from "../relay/party";

const EMPTY = Buffer.alloc(0);
/** How long a refused stream may linger for the client to read its answer. */
const REFUSAL_LINGER_MS = 2000;

/**
 * A party on the HTTP/2 transport (docs/protocol.md, "HTTP/2"): one stream `POST <path>/connect`. The response
 * headers go out only when paired (200 + frelay-mode) or refused (status + one-line body); the
 * request and response bodies are then the two directions, END_STREAM standing for FIN.
 * Flow control bounds anything the party sends early, so there is no hand-off to get right.
 */
export class H2Party implements PendingParty {
  private settled = false;
  private goneCallbacks: (() => void)[] = [];

  constructor(
    readonly request: PartyRequest,
    private readonly stream: http2.ServerHttp2Stream,
    /** What may be queued to the stream before its peer is paused (h2-memory-bounds.ts). */
    private readonly sendQueue: number,
  ) {
    const gone = () => {
      if (this.settled) return;
      this.settled = true;
      for (const cb of this.goneCallbacks.splice(0)) cb();
    };
    stream.once("close", gone);
    stream.once("aborted", gone);
  }

  onGone(cb: () => void): void {
    if (!this.settled) this.goneCallbacks.push(cb);
  }

  refuse(code: number, reason: string): Promise<void> {
    if (this.settled) return Promise.resolve();
    this.settled = true;
    this.goneCallbacks = [];
    return respondText(this.stream, code, reason);
  }

  async accept(mode: 1 | 2, notBefore?: Promise<unknown>): Promise<RawStream> {
    if (this.settled || this.stream.destroyed) throw new Error(`${this.request.identity} left before the reply`);
    this.settled = true;
    this.goneCallbacks = [];
    // The peer's reply goes out first (see PairingCore.pair); if it failed, this party gets none.
    if (notBefore) {
      try {
        await notBefore;
      } catch (err) {
        this.stream.close(http2constants.NGHTTP2_CANCEL);
        throw err;
      }
    }
    if (this.stream.destroyed) throw new Error(`${this.request.identity} left before the reply`);
    this.stream.respond({ ":status": 200, "frelay-mode": String(mode) });
    return { stream: this.stream, leftover: EMPTY, sendQueue: this.sendQueue };
  }
}

/**
 * A refusal as HTTP: the status and a one-line text body; the stream is closed soon after.
 * Resolves when the stream has closed (the client read its answer, or the linger ran out).
 */
export function respondText(stream: http2.ServerHttp2Stream, status: number, text: string): Promise<void> {
  if (stream.destroyed || stream.closed) return Promise.resolve();
  const closed = new Promise<void>((resolve) => stream.once("close", () => resolve()));
  if (!stream.headersSent) stream.respond({ ":status": status, "content-type": "text/plain; charset=utf-8" });
  stream.end(`${text}\n`);
  setTimeout(() => {
    if (!stream.closed) stream.close();
  }, REFUSAL_LINGER_MS).unref();
  return closed;
}
