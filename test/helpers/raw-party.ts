import * as tls from "node:tls";
import type { PartySettings } from "../../src/client/settings";
import { connect, type ConnectOptions, type RelayedConnection } from "../../src/client/connect";

/**
 * A party that speaks the outer protocol by hand (plain tls.connect, no RecordGate): sends
 * `payload` and returns whatever the relay answers until it closes. For refusal tests.
 */
export function rawExchange(s: PartySettings, payload: string | Buffer, opts: { cert?: boolean } = {}): Promise<string> {
  const [host, port] = [s.relay.slice(0, s.relay.lastIndexOf(":")), Number(s.relay.slice(s.relay.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host, port, ca: s.relayCa, ...(opts.cert === false ? {} : { cert: s.relayCert, key: s.relayKey }) });
    const parts: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error("no answer within 15s")), 15000);
    sock.on("secureConnect", () => sock.write(payload));
    sock.on("data", (c: Buffer) => parts.push(c));
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(parts).toString());
    };
    sock.on("end", done);
    sock.on("close", done);
    sock.on("error", () => done());
  });
}

/** A hand-driven party that has sent its request and now waits; the caller may drop it. */
export function waitingRawParty(s: PartySettings): Promise<tls.TLSSocket> {
  const [host, port] = [s.relay.slice(0, s.relay.lastIndexOf(":")), Number(s.relay.slice(s.relay.lastIndexOf(":") + 1))];
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host, port, ca: s.relayCa, cert: s.relayCert, key: s.relayKey });
    sock.on("error", reject);
    sock.on("secureConnect", () => {
      sock.write(JSON.stringify({ DestParty: s.dest, Tag: s.tag }));
      resolve(sock);
    });
  });
}

/** The relay's refusal as an object, from a request sent by the raw party. */
export async function refusalFor(s: PartySettings, payload?: string): Promise<{ Mode: number; Code: number; Error: string }> {
  const text = await rawExchange(s, payload ?? JSON.stringify({ DestParty: s.dest, Tag: s.tag }));
  return JSON.parse(text) as { Mode: number; Code: number; Error: string };
}

/** Two parties through the library client; resolves when both end-to-end handshakes are done. */
export async function pair(a: ConnectOptions, b: ConnectOptions, gapMs = 50): Promise<[RelayedConnection, RelayedConnection]> {
  const first = connect({ ...a, timeoutMs: 15000 });
  await new Promise((r) => setTimeout(r, gapMs));
  const second = connect({ ...b, timeoutMs: 15000 });
  return Promise.all([first, second]);
}
