/** The HTTP/2 side of the relay, for the direct and the fronting listener: each `POST <path>/connect` stream checked and made one party. */
import * as http2 from "node:http2";
import type * as net from "node:net";
import type * as tls from "node:tls";
import { describe } from "../errors";
import type { Logger } from "../log/logger";
import { isIdentity } from "../pki/identity";
import { RefusalCode } from "../relay/party";
import type { PairingCore } from "../relay/pairing-core";
import { H2Party, respondText } from "./h2-party";
import { connectionWindow, h2Settings, streamSendQueue, type H2BufferBounds, type H2Bounds } from "./h2-memory-bounds";
import { boundSession, streamsOf } from "./h2-session-bounds";
import { peerCertificate, type PeerResult } from "./peer-identity";

/** Who is on a stream, and from where (the real client address when known). */
export interface StreamOrigin {
  peer: PeerResult;
  remote: string;
  /** The request itself is unacceptable (e.g. two certificate headers): refused 400. */
  malformed?: string;
}

/**
 * How an endpoint finds each stream's origin: from what its session was given at accept
 * (`C`: the verified peer of a direct TLS connection, or the front a fronting connection came
 * from) and the stream's headers. Never from socket state read later.
 */
export interface H2Routing<C> {
  /** The path prefix, e.g. "/frelay". */
  path: string;
  originOf: (context: C, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[]) => StreamOrigin;
}

/**
 * HTTP/2 tuned for tunnels: no request timeout, concurrency and per-session bookkeeping bounded.
 * The windows and the stream count come from the connection's memory budget
 * (h2-memory-bounds.ts); Node's own default windows (64 KiB) would cap throughput.
 * maxSessionMemory (MiB) is Node's cap on nghttp2's own bookkeeping (headers, queued frames),
 * not on the stream data the windows bound.
 */
const H2_SERVER_OPTIONS: http2.ServerOptions = { maxSessionMemory: 64, peerMaxConcurrentStreams: 1000 };

const MAX_TAG_BYTES = 1024;

/**
 * The HTTP/2 side of the relay, shared by the direct listener (ALPN h2 inside the relay's own
 * mutual TLS) and the fronting listener (h2c from a trusted web server). Each stream
 * `POST <path>/connect` is one party.
 */
export class H2Endpoint<C = StreamOrigin> {
  readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** What each session was given at accept; the only source of its streams' origins. */
  private readonly contexts = new WeakMap<http2.ServerHttp2Session, C>();
  private adopting: { context: C; notAfter: number | undefined; socket: net.Socket } | undefined;
  /** When the certificate a TLS connection was authenticated with expires (direct h2). */
  private readonly notAfter = new WeakMap<http2.ServerHttp2Session, number>();
  /** What may be queued to each stream of a session: fixed with its SETTINGS at accept. */
  private readonly sendQueues = new WeakMap<http2.ServerHttp2Session, number>();
  /** The memory budget the server's SETTINGS were last made from (a reload may change it). */
  private settingsFor: H2BufferBounds;

  constructor(
    private readonly relay: PairingCore,
    private readonly log: Logger,
    private readonly route: () => H2Routing<C>,
    private readonly bounds: () => H2Bounds,
  ) {
    this.settingsFor = bounds();
    this.server = http2.createServer({ ...H2_SERVER_OPTIONS, settings: h2Settings(this.settingsFor) });
    this.server.on("error", (err) => this.log.error("h2_error", { error: describe(err) }));
    this.server.on("sessionError", (err) => this.log.debug("h2_session_error", { error: describe(err) }));
    this.server.on("session", (session) => this.onSession(session));
    this.server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => this.onStream(stream, headers, rawHeaders));
    this.server.setTimeout(0); // tunnels may be quiet for long: idle sessions are not an error
  }

  /**
   * Serves HTTP/2 on a connection whose trust was settled at accept: an authenticated TLS
   * connection (the direct listener's ALPN h2), or a fronting connection from a trusted front.
   * `context` is what that decision found; every stream of the session is judged by it.
   */
  adopt(socket: tls.TLSSocket | net.Socket, context: C): http2.ServerHttp2Session | undefined {
    // A stand-alone server TLSSocket still says secureConnecting after its handshake (only
    // tls.Server clears it); http2 would then wait for a 'secureConnect' that never comes and
    // crash on the bytes already buffered. The handshake is done: say so.
    const isTls = "encrypted" in socket;
    if (isTls) (socket as tls.TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
    // 'session' fires synchronously inside emit('connection'): that is how the session learns
    // what was decided at accept.
    const validTo = isTls ? peerCertificate(socket)?.validTo : undefined;
    this.applyBudget();
    this.adopting = { context, notAfter: validTo === undefined ? undefined : Date.parse(validTo), socket };
    let session: http2.ServerHttp2Session | undefined;
    this.server.once("session", (s) => (session = s));
    try {
      this.server.emit("connection", socket);
    } finally {
      this.adopting = undefined;
    }
    // The direct listener keeps TCP half-open for the stream protocol's sake, so without this
    // a session would never learn that its client went away (FIN, no GOAWAY).
    if (isTls) socket.once("end", () => session && clientFinished(session));
    return session;
  }

  /** A reload changed the memory budget: connections accepted from now on are offered the new SETTINGS. */
  private applyBudget(): void {
    const b = this.bounds();
    if (b.bufferBytes === this.settingsFor.bufferBytes && b.maxStreams === this.settingsFor.maxStreams) return;
    this.settingsFor = b;
    this.server.updateSettings(h2Settings(b));
  }

  private onSession(session: http2.ServerHttp2Session): void {
    session.on("error", (err) => this.log.debug("h2_session_error", { error: describe(err) }));
    const adopted = this.adopting;
    if (!adopted) return void session.destroy(); // not adopted: nothing decided its trust
    this.sessions.add(session);
    session.once("close", () => this.sessions.delete(session));
    this.contexts.set(session, adopted.context);
    if (adopted.notAfter !== undefined) this.notAfter.set(session, adopted.notAfter);
    this.sendQueues.set(session, streamSendQueue(this.settingsFor));
    boundSession(session, adopted.socket, this.bounds(), this.log);
    const window = connectionWindow(this.settingsFor);
    session.once("connect", () => {
      try {
        session.setLocalWindowSize(window);
      } catch {
        // the session went away already
      }
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[]): void {
    stream.on("error", () => undefined); // a reset stream is the party's business
    const { path, originOf } = this.route();
    const session = stream.session as http2.ServerHttp2Session;
    if (headers[":method"] !== "POST" || headers[":path"] !== `${path}/connect`) {
      void respondText(stream, 404, `unknown request ${headers[":method"]} ${headers[":path"]} (use POST ${path}/connect)`);
      return;
    }
    // A session with no context was not adopted: nothing vouches for it (fail closed).
    const context = this.contexts.get(session);
    const origin = context === undefined ? undefined : expiredSince(originOf(context, headers, rawHeaders), this.notAfter.get(session));
    const reply = (code: number, reason: string) => void respondText(stream, code, reason);
    const refusals = this.relay.refusals;
    if (origin?.malformed) return refusals.refuse(reply, { remote: origin.remote, transport: "h2" }, RefusalCode.badRequest, origin.malformed);
    if (!origin || !origin.peer.ok) {
      const reason = origin && !origin.peer.ok ? origin.peer.reason : "no verified client identity";
      return refusals.handshakeFailed({ remote: origin?.remote, transport: "h2" }, reason, reply);
    }
    const dest = headerText(headers["frelay-dest"]);
    const tag = headerText(headers["frelay-tag"]) ?? "";
    const refuse400 = (reason: string) => refusals.refuse(reply, { remote: origin.remote, transport: "h2", identity: origin.peer.ok ? origin.peer.identity : undefined, dest, tag }, RefusalCode.badRequest, reason);
    if (!dest || !isIdentity(dest)) return refuse400(`malformed request: header frelay-dest must be an identity like "1.user1"`);
    if (Buffer.byteLength(tag) > MAX_TAG_BYTES) return refuse400(`malformed request: header frelay-tag is longer than ${MAX_TAG_BYTES} bytes`);
    const request = { identity: origin.peer.identity, dest, tag, remote: origin.remote, transport: "h2" as const, certSerial: origin.peer.serial };
    this.relay.submit(new H2Party(request, stream, this.sendQueues.get(session) ?? streamSendQueue(this.settingsFor)));
  }

  /**
   * Ends at once every connection whose accept-time context `shouldClose` picks (a reload that
   * revoked its identity): its streams are reset. Returns how many.
   */
  closeSessions(shouldClose: (context: C) => boolean, reason: string): number {
    let n = 0;
    for (const s of [...this.sessions]) {
      const ctx = this.contexts.get(s);
      if (ctx === undefined || !shouldClose(ctx)) continue;
      this.log.info("h2_connection_closed", { reason, streams: streamsOf(s).size });
      s.destroy();
      n++;
    }
    return n;
  }

  /** server.close() leaves sessions open: close them, streams and all. */
  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
  }

  stopAccepting(): void {
    this.server.close();
  }
}

/**
 * The client's TCP FIN: no frame can arrive any more. The socket's 'end' can come before the
 * session has processed the last frames read with it, so after a short grace a stream still
 * waiting for the client's END_STREAM has lost its party and is destroyed (RST_STREAM). A
 * stream that has it keeps delivering what it holds (its tail may be queued behind flow
 * control); the session closes once they are done.
 */
function clientFinished(session: http2.ServerHttp2Session): void {
  if (!session.closed && !session.destroyed) session.close();
  setTimeout(() => {
    for (const stream of streamsOf(session)) {
      if (!stream.state?.remoteClose) stream.destroy();
    }
  }, CLIENT_GONE_GRACE_MS).unref();
}

const CLIENT_GONE_GRACE_MS = 1000;

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The direct listener's routing: each stream is the connection's verified peer, checked again
 * against the CRL now in force (a reload may have revoked it since the handshake).
 */
export function directRouting(isRevoked: () => (serial: string) => boolean): H2Routing<StreamOrigin> {
  return {
    path: "/frelay",
    originOf: (origin) =>
      origin.peer.ok && isRevoked()(origin.peer.serial) ? { ...origin, peer: { ok: false, reason: "client certificate rejected: certificate revoked" } } : origin,
  };
}

/** A stream on a connection whose certificate has expired since its handshake is not its party's. */
function expiredSince(origin: StreamOrigin, notAfter: number | undefined, now = Date.now()): StreamOrigin {
  if (notAfter === undefined || now <= notAfter || !origin.peer.ok) return origin;
  return { ...origin, peer: { ok: false, reason: "client certificate rejected: it expired after this connection was made (reconnect with a renewed certificate)" } };
}
