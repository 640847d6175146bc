import * as crypto from "node:crypto";
import * as tls from "node:tls";
import type { PartySettings } from "../../src/client/settings";
import { connect, type ConnectOptions, type RelayedConnection } from "../../src/client/connect";
import { runningRelayAt } from "./cli";

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

/** The identity a party's relay certificate names (its CN). */
function identityOf(s: PartySettings): string {
  const cn = /CN=([^\n,]+)/.exec(new crypto.X509Certificate(s.relayCert).subject);
  if (!cn?.[1]) throw new Error("relay certificate without a CN");
  return cn[1];
}

/**
 * Two parties through the library client; resolves when both end-to-end handshakes are done.
 * `a` waits and `b` arrives: `b` dials only once the relay has logged `a` as waiting (its own
 * `waiting` line, after this call, for a's identity and tag), so `a` gets Mode 2 and `b` Mode 1.
 * Only for a relay the test started with startForeground (whose log it reads); for any other
 * (a daemon, a front) both dial at once and which one waited is not known.
 */
export async function pair(a: ConnectOptions, b: ConnectOptions): Promise<[RelayedConnection, RelayedConnection]> {
  const relay = runningRelayAt(a.relay);
  const mark = relay?.events.length ?? 0;
  const first = connect({ ...a, timeoutMs: 15000 });
  if (relay) {
    const identity = identityOf(a);
    const waiting = relay.waitFor((e) => e["event"] === "waiting" && e["identity"] === identity && e["tag"] === (a.tag ?? "") && relay.events.indexOf(e) >= mark, 15000);
    // If `a` fails first, say so rather than wait for a line that will never come.
    await Promise.race([waiting, first.then(() => Promise.reject(new Error(`${identity} paired before it was seen waiting`)))]);
  }
  const second = connect({ ...b, timeoutMs: 15000 });
  return Promise.all([first, second]);
}
