/** The fronting listener (`fronting.address`): h2c from TLS-terminating web servers, trusted or closed once, at accept. */
import type * as http2 from "node:http2";
import * as net from "node:net";
import { addressKey, type ListenAddress } from "../config/address";
import { describe } from "../errors";
import type { Logger } from "../log/logger";
import type { PairingCore } from "../relay/pairing-core";
import { bindWithAccess, type SocketAccess } from "./unix-socket";
import type { TransportState } from "./transport-state";
import { AddressSlots } from "./address-slots";
import { fronted, type TrustedProxies } from "./fronted-identity";
import { H2Endpoint, type StreamOrigin } from "./h2-endpoint";

/**
 * What a fronting connection was found to be at accept: which front it came from ("unix", or
 * the TCP peer's address read once, then). Its streams are judged by this alone: the socket's
 * address is read by the kernel on each access and is gone once the peer resets, so reading it
 * later would let a vanished peer pass for something it is not.
 */
export interface FrontContext {
  readonly front: string;
}

const ignore = (): void => undefined;

/**
 * `fronting.address`: h2c from a TLS-terminating web server (nginx grpc_pass, Apache h2c,
 * HAProxy proto h2), on host:port or a unix socket. Trust is decided once, at accept: a unix
 * socket is trusted (its file permissions decide who may connect); a TCP peer must be in
 * `trusted_proxies`, or it is closed before a byte of HTTP/2 is read. A trusted front's streams
 * carry the party's certificate in `client_cert_header`, which the relay verifies itself.
 */
export class FrontingListener {
  readonly endpoint: H2Endpoint<FrontContext>;
  private readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();
  /** Fronting connections per front address that have not opened a stream yet. */
  private readonly beforeFirstStream = new AddressSlots();
  private kind: ListenAddress["kind"] = "tcp";
  private boundText = "";

  constructor(
    private readonly relay: PairingCore,
    private readonly state: () => TransportState,
    private readonly log: Logger,
    /** Connections open on the other listeners: limits.max_connections counts them all. */
    private readonly othersOpen: () => number = () => 0,
  ) {
    this.endpoint = new H2Endpoint<FrontContext>(
      relay,
      log,
      () => ({ path: this.state().fronting?.path ?? "/frelay", originOf: (ctx, headers, raw) => this.originOf(ctx, headers, raw) }),
      () => this.state().h2,
    );
    this.server = net.createServer((socket) => this.accept(socket));
    // EMFILE and friends at accept time arrive here; the listener keeps running.
    this.server.on("error", (err) => this.log.error("listener_error", { transport: "h2c", error: describe(err) }));
  }

  /** A connection the listener has accepted: trusted or closed, counted, then served. */
  accept(socket: net.Socket): void {
    socket.on("error", ignore); // a reset is not our error; http2 reports what matters
    const front = this.kind === "unix" ? "unix" : socket.remoteAddress; // read once, here
    const trusted = this.state().fronting?.trusted;
    if (front === undefined || (front !== "unix" && !trusted?.has(front))) {
      socket.destroy();
      const who = front === undefined ? "a peer whose address could not be read" : front;
      const reason = `${who} is not in fronting.trusted_proxies; connection closed at accept (add the front's address there if it is one)`;
      this.relay.refusals.closedAtAccept({ remote: front ?? "unknown", transport: "h2c" }, reason);
      return;
    }
    const st = this.state();
    const turnAway = (reason: string) => {
      socket.destroy();
      this.relay.refusals.handshakeFailed({ remote: front, transport: "h2c" }, reason);
    };
    if (this.connections.size + this.othersOpen() >= st.maxConnections) return turnAway(`relay is at its connection limit (limits.max_connections is ${st.maxConnections})`);
    // Like the direct listener's handshakes: until its first stream a connection holds one of
    // its address's slots, so one front (or a peer on a trusted host) cannot hold them all.
    // IPv6 counts per /64, which one host commonly holds whole.
    const key = addressKey(front);
    const release = this.beforeFirstStream.take(key, st.maxHandshakesPerAddress);
    if (!release) return turnAway(`too many fronting connections without a stream from ${key} (limits.max_handshakes_per_address is ${st.maxHandshakesPerAddress})`);
    this.connections.add(socket);
    socket.once("close", () => {
      this.connections.delete(socket);
      release();
    });
    this.endpoint.adopt(socket, { front })?.once("stream", release);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private originOf(ctx: FrontContext, _headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[]): StreamOrigin {
    const st = this.state();
    const f = st.fronting;
    if (!f) return { remote: ctx.front, peer: { ok: false, reason: "fronting is not configured" } };
    const remote = clientAddress(ctx.front, headerValues(rawHeaders, f.clientAddressHeader), f.trusted);
    const certs = headerValues(rawHeaders, f.clientCertHeader);
    if (certs.length > 1) {
      return { remote, peer: { ok: false, reason: "ambiguous identity" }, malformed: `malformed request: ${certs.length} ${f.clientCertHeader} headers (the front must send exactly one: set it, never pass on a client's own)` };
    }
    return { remote, peer: fronted(certs[0], st.caPem, st.isRevoked) };
  }

  async listen(address: ListenAddress, unix: SocketAccess = { mode: 0o660 }): Promise<string> {
    this.kind = address.kind;
    this.boundText = await bindWithAccess(this.server, address, unix, "fronting.address");
    return this.boundText;
  }

  get bound(): string {
    return this.boundText;
  }

  stopAccepting(): void {
    this.server.close();
    this.endpoint.stopAccepting();
  }

  destroyAll(): void {
    this.endpoint.destroyAll();
  }
}

/** Every value of header `name` in the order received (HTTP/2 names are lower-case). */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i] === name) out.push(rawHeaders[i + 1] as string);
  }
  return out;
}

/**
 * The client address a front vouches for. Each proxy appends the address it received the
 * connection from, so the list reads client-written entries first and proxy-written ones last:
 * walk from the right past the hops that are themselves trusted proxies, and take the first
 * address that is not. Anything left of it may have been written by the client and is never
 * believed. No usable entry: the front's own address.
 */
export function clientAddress(front: string, values: readonly string[], trusted: TrustedProxies): string {
  const entries = values.flatMap((v) => v.split(",")).map((e) => e.trim());
  let vouched = front;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i] as string;
    if (net.isIP(entry) === 0) break; // not an address: nothing further left is vouched for
    vouched = entry;
    if (!trusted.has(entry)) break;
  }
  return vouched;
}
