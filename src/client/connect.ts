/** `connect()`, the library's party side: the relay half (the stream protocol here, HTTP/2 in h2-connect.ts), then end-to-end mutual TLS in the role the relay assigned. */
import * as net from "node:net";
import * as tls from "node:tls";
import { parseHostPort } from "../config/address";
import { ClientError, RefusalError, UsageError, describe } from "../errors";
import { verifyError } from "../transport/peer-identity";
import { RecordGate } from "../transport/record-gate";
import { JsonObjectScanner, MAX_REQUEST_BYTES } from "../transport/request";
import type { Duplex } from "node:stream";
import { dialRelayH2 } from "./h2-connect";
import { peerNameMismatch } from "./peer-name";
import { relayNameCheck, relayServername } from "./relay-name";
import { tlsCarrier } from "./tls-carrier";
import { DEFAULT_TIMEOUT_MS, type ConnectOptions, type RelayedConnection } from "./options";
import type { PartySettings } from "./settings";

export type { ConnectOptions, RelayedConnection } from "./options";

/** The bare TCP connection after the relay's reply: what the end-to-end TLS runs over. */
export interface DialedRelay {
  /** Paused, its first unread bytes put back: attach a reader, then resume() (TLS does both). */
  socket: net.Socket;
  mode: 1 | 2;
  /**
   * The relay had already ended the TCP stream (the peer's FIN: usually the peer died at once)
   * when the reply was read. The socket has emitted its 'end' and will not again; the bytes the
   * peer sent before it are in `rest`, not put back. Writing may still work.
   */
  ended: boolean;
  rest: Buffer;
  /** performance.now() when the request was written and when the reply completed. */
  requestedAt: number;
  repliedAt: number;
}

/**
 * The party side of the stream protocol (docs/protocol.md): mutual TLS to the relay, the request, the reply, then
 * end-to-end mutual TLS on the bare TCP connection in the role the relay assigned, verifying
 * that the peer's certificate chains to the user CA and names the requested DestParty.
 */
export async function connect(opts: ConnectOptions): Promise<RelayedConnection> {
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const { carrier, mode, discard, release } =
    opts.transport === "h2"
      ? await dialRelayH2(opts, relayAddress(opts.relay)).then((d) => ({ carrier: d.stream, mode: d.mode, discard: () => d.session.destroy(), release: () => d.session.close() }))
      : await dialRelay(opts).then((d) => {
          // The peer's FIN before any end-to-end byte: no TLS handshake can complete (each side
          // must write until it does), so it is gone, and its end will not be signalled again.
          if (d.ended) {
            d.socket.destroy();
            throw peerGoneError(opts.dest);
          }
          return { carrier: d.socket, mode: d.mode, discard: () => d.socket.destroy(), release: () => undefined };
        });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClientError("FRELAY_ERR_CONNECT", `no end-to-end TLS with ${opts.dest} before the deadline`)), Math.max(0, deadline - Date.now()));
  });
  try {
    const socket = await Promise.race([startEndToEnd(carrier, mode, opts), timeout]);
    // One HTTP/2 session per h2 party: it closes (gracefully) with the end-to-end connection.
    socket.once("close", release);
    return { socket, mode };
  } catch (err) {
    discard();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The relay half of the stream protocol: mutual TLS to the relay, the request, the reply and its
 * close_notify, and nothing more. Resolves with the bare TCP connection, its first unread bytes
 * put back, ready for the end-to-end TLS (or, in the benchmark, for raw bytes).
 */
export function dialRelay(opts: ConnectOptions): Promise<DialedRelay> {
  return new Promise((resolve, reject) => {
    const addr = relayAddress(opts.relay); // a usage error thrown here rejects the promise
    const raw = net.connect({ host: addr.host, port: addr.port, allowHalfOpen: true, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    raw.setNoDelay(true);
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      raw.destroy();
      reject(err);
    };
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timer = setTimeout(() => fail(new ClientError("FRELAY_ERR_CONNECT", `no pairing with ${opts.dest} within ${timeoutMs / 1000}s`)), timeoutMs);
    raw.once("error", (err) => fail(new ClientError("FRELAY_ERR_CONNECT", `cannot reach relay ${opts.relay}: ${describe(err)}`)));
    const onClose = () => fail(new ClientError("FRELAY_ERR_CONNECT", `relay ${opts.relay} closed the connection before pairing`));
    raw.once("close", onClose);
    let requestedAt = 0;

    raw.once("connect", () => {
      const gate = new RecordGate(raw);
      const outer = tls.connect({
        socket: gate,
        host: addr.host,
        servername: relayServername(opts.relayName, addr.host),
        checkServerIdentity: relayNameCheck(opts.relayName),
        ca: opts.relayCa,
        cert: opts.relayCert,
        key: opts.relayKey,
        minVersion: "TLSv1.2",
      });
      gate.on("error", (err: Error) => fail(new ClientError("FRELAY_ERR_CONNECT", `relay ${opts.relay}: ${describe(err)}`)));
      outer.on("error", (err) => fail(new ClientError("FRELAY_ERR_CONNECT", `TLS with relay ${opts.relay} failed: ${describe(err)}`)));
      const sendRequest = () => {
        requestedAt = performance.now();
        outer.write(JSON.stringify({ DestParty: opts.dest, Tag: opts.tag }));
      };
      outer.once("secureConnect", () => {
        if (!opts.requestAfterHandshake || outer.getProtocol() !== "TLSv1.3") sendRequest();
        else outer.once("session", () => setImmediate(sendRequest));
      });
      const scanner = new JsonObjectScanner(MAX_REQUEST_BYTES, "reply", "the relay is not a frelay/Flock relay");
      let mode: 1 | 2 | undefined;
      let repliedAt = 0;
      outer.on("data", (chunk: Buffer) => {
        if (mode !== undefined) return fail(new ClientError("FRELAY_ERR_PEER", "relay sent data after its reply"));
        const r = scanner.push(chunk);
        if (r.kind === "incomplete") return;
        if (r.kind === "error") return fail(new ClientError("FRELAY_ERR_PEER", r.reason));
        const reply = parseReply(r.text);
        if ("refused" in reply) return fail(reply.refused);
        mode = reply.mode;
        repliedAt = performance.now();
      });
      // close_notify: the outer TLS is over. The gate fed TLS one record per turn and this
      // fires within the turn of the close_notify record, so every later byte is still
      // unread in the gate: the first bytes of the end-to-end TLS.
      outer.once("end", () => {
        if (mode === undefined) return fail(new ClientError("FRELAY_ERR_PEER", "relay closed the connection without a reply (its log says why, e.g. a revoked or unknown certificate)"));
        const ended = gate.tcpEnded;
        const leftover = gate.detach();
        outer.destroy();
        // After its 'end' a socket refuses unshift(); the bytes travel beside it instead.
        if (leftover.length > 0 && !ended) raw.unshift(leftover);
        if (done) return;
        done = true;
        clearTimeout(timer);
        raw.off("close", onClose);
        raw.removeAllListeners("error");
        resolve({ socket: raw, mode, requestedAt, repliedAt, ended, rest: ended ? leftover : Buffer.alloc(0) });
      });
    });
  });
}

/** RELAY as host and port, or a usage error naming the setting. */
function relayAddress(text: string): { host: string; port: number } {
  const addr = parseHostPort(text);
  if (typeof addr === "string" || addr.kind !== "tcp") throw new UsageError(`RELAY ${typeof addr === "string" ? addr : "must be host:port"}`);
  return addr;
}

function parseReply(text: string): { mode: 1 | 2 } | { refused: ClientError } {
  let reply: { Mode?: unknown; Code?: unknown; Error?: unknown };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch {
    return { refused: new ClientError("FRELAY_ERR_PEER", "relay sent an unreadable reply") };
  }
  if (reply.Mode === 1 || reply.Mode === 2) return { mode: reply.Mode };
  if (typeof reply.Code !== "number") return { refused: new ClientError("FRELAY_ERR_PEER", "relay sent a reply with neither Mode 1/2 nor a Code") };
  return { refused: new RefusalError(reply.Code, typeof reply.Error === "string" && reply.Error ? reply.Error : "no reason given") };
}

function peerGoneError(dest: string): ClientError {
  return new ClientError("FRELAY_ERR_PEER", `${dest} closed the connection right after pairing, before the end-to-end TLS handshake (it exited, or refused this party's certificate)`);
}

/**
 * The peer went away between the pairing and the end of the end-to-end handshake (it died, or
 * refused our certificate): the relay ends our connection too. A TLS server socket whose
 * transport ends mid-handshake may just sit there, so this says so at once, not at the deadline.
 * (A rejection after the handshake resolved is ignored.)
 */
function peerGone(streams: readonly Duplex[], dest: string, reject: (err: Error) => void): void {
  const gone = () => reject(peerGoneError(dest));
  for (const s of streams) {
    s.once("end", gone);
    s.once("close", gone);
  }
}

/**
 * The end-to-end mutual TLS over the bare connection (or an HTTP/2 stream), in the role the
 * relay assigned.
 */
export function startEndToEnd(raw: Duplex, mode: 1 | 2, opts: PartySettings): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const wrongPeer = (cert: tls.PeerCertificate) => peerNameMismatch(opts.dest, cert);
    if (mode === 2) {
      const socket = tls.connect({
        socket: tlsCarrier(raw, false),
        servername: opts.dest,
        ca: opts.userCa,
        cert: opts.partyCert,
        key: opts.partyKey,
        minVersion: "TLSv1.2",
        checkServerIdentity: (_host, cert) => wrongPeer(cert),
      });
      socket.once("error", (err) => reject(new ClientError("FRELAY_ERR_PEER", `end-to-end TLS with ${opts.dest} failed: ${describe(err)}`)));
      socket.once("secureConnect", () => resolve(socket));
      peerGone([raw, socket], opts.dest, reject);
      return;
    }
    const socket = new tls.TLSSocket(tlsCarrier(raw, true), {
      isServer: true,
      secureContext: tls.createSecureContext({ ca: opts.userCa, cert: opts.partyCert, key: opts.partyKey, minVersion: "TLSv1.2" }),
      requestCert: true,
      rejectUnauthorized: false, // checked below: chain to the user CA, then the peer's name
    });
    socket.once("error", (err) => reject(new ClientError("FRELAY_ERR_PEER", `end-to-end TLS with ${opts.dest} failed: ${describe(err)}`)));
    peerGone([raw, socket], opts.dest, reject);
    socket.once("secure", () => {
      const verdict = verifyError(socket);
      const cert = socket.getPeerCertificate();
      const problem =
        verdict === undefined ? "cannot read the verification result"
        : verdict ? `certificate rejected: ${verdict.message}`
        : !cert || Object.keys(cert).length === 0 ? "no certificate"
        : wrongPeer(cert)?.message;
      if (problem) {
        socket.destroy();
        reject(new ClientError("FRELAY_ERR_PEER", `end-to-end peer is not ${opts.dest}: ${problem}`));
        return;
      }
      resolve(socket);
    });
  });
}
