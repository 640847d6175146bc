import * as http2 from "node:http2";
import type * as net from "node:net";
import { dialRelay } from "../../src/client/connect";
import type { PartySettings } from "../../src/client/settings";

/** One HTTP/2 connection whose streams push into peers that never read (and vice versa). */
export interface H2Flood {
  /** What the relay offered in its SETTINGS. */
  readonly offered: { initialWindowSize: number; maxConcurrentStreams: number };
  /** Streams the relay paired (200), of those asked for. */
  readonly paired: number;
  /** Bytes the parties have handed to their sockets/streams so far (both directions). */
  pushed(): number;
  close(): void;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x5a);

/** Writes `CHUNK` into `w` for as long as it accepts more, and again on every 'drain'. */
function pushForever(w: NodeJS.WritableStream & { on(e: "drain", f: () => void): unknown }, count: (n: number) => void): void {
  const push = () => {
    let more: boolean;
    do {
      more = w.write(CHUNK);
      count(CHUNK.length);
    } while (more);
  };
  w.on("drain", push);
  push();
}

/**
 * The attack on the relay's memory: `h2` opens `streams` streams on ONE HTTP/2 connection, each
 * naming a stream-protocol peer `raw` that dials in with the same tag once `waiting(tag)` says
 * the relay has the stream waiting, and never reads. Both
 * sides then write as fast as the relay lets them, neither reading: whatever the relay does not
 * push back on, it must hold. Resolves once the pairs the relay accepts are made (a relay that
 * caps streams per connection pairs fewer than asked: the rest wait in the client) and every
 * writer has stalled: no byte pushed for `quietMs`, the sign that backpressure holds everywhere.
 */
export async function floodNonReadingPeers(h2: PartySettings, raw: PartySettings, streams: number, opts: { waiting: (tag: string) => Promise<unknown>; tagPrefix?: string; quietMs?: number; timeoutMs?: number }): Promise<H2Flood> {
  const prefix = opts.tagPrefix ?? "flood";
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  const url = `https://${h2.relay}`;
  const session = http2.connect(url, { ca: h2.relayCa, cert: h2.relayCert, key: h2.relayKey });
  session.on("error", () => undefined);
  const sockets: net.Socket[] = [];
  let pushed = 0;
  let paired = 0;
  let failure: Error | undefined;
  const count = (n: number) => (pushed += n);
  const close = () => {
    session.destroy();
    for (const s of sockets) s.destroy();
  };
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once("remoteSettings", resolve);
      session.once("close", () => reject(new Error("the relay closed the HTTP/2 connection before its SETTINGS")));
    });
    const expected = Math.min(streams, settings.maxConcurrentStreams ?? streams);
    // Each peer dials once its stream waits, and both start pushing once both have their reply:
    // the client library reads its reply through a small gate that a flood arriving with the
    // reply would overrun (a real peer's first bytes are a TLS hello, not a flood).
    for (let i = 0; i < streams; i++) {
      const tag = `${prefix}${i}`;
      const req = session.request({ ":method": "POST", ":path": "/frelay/connect", "frelay-dest": h2.dest, "frelay-tag": tag });
      req.on("error", () => undefined);
      if (i >= expected) continue; // queued by the client behind the relay's stream cap
      const answered = new Promise<boolean>((resolve) => req.once("response", (headers) => resolve(headers[":status"] === 200)));
      const dialed = opts.waiting(tag).then(() => dialRelay({ ...raw, tag, timeoutMs: Math.max(1000, deadline - Date.now()) }));
      void Promise.all([answered, dialed])
        .then(([ok, d]) => {
          sockets.push(d.socket); // paused by dialRelay, and never resumed: it never reads
          d.socket.on("error", () => undefined);
          if (!ok) throw new Error(`stream ${tag} was refused`);
          paired++;
          req.pause(); // never read what the peer sends
          pushForever(req, count);
          pushForever(d.socket, count);
        })
        .catch((err: Error) => (failure ??= err));
    }
    await until(() => paired >= expected || failure !== undefined, deadline, `only ${paired} of ${expected} streams paired`);
    if (failure) throw failure;
    // Stalled: nothing accepted for quietMs. Polled against a deadline: a relay that never
    // pushes back never goes quiet, and fails here.
    const quietMs = opts.quietMs ?? 3000;
    let last = -1;
    let quietSince = Date.now();
    await until(
      () => {
        if (pushed !== last) [last, quietSince] = [pushed, Date.now()];
        return Date.now() - quietSince >= quietMs;
      },
      deadline,
      "the parties' writes never stalled: the relay kept taking data from peers whose destination does not read",
    );
    return { offered: { initialWindowSize: settings.initialWindowSize ?? 65_535, maxConcurrentStreams: settings.maxConcurrentStreams ?? Infinity }, paired, pushed: () => pushed, close };
  } catch (err) {
    close();
    throw err;
  }
}

async function until(done: () => boolean, deadline: number, failure: string): Promise<void> {
  while (!done()) {
    if (Date.now() > deadline) throw new Error(failure);
    await new Promise((r) => setTimeout(r, 200));
  }
}
