/** The direct listener (`address`): accepting connections and holding them to the limits; reading their requests is direct-request-reader.ts. */
import * as net from "node:net";
import { describe } from "../errors";
import type { Logger } from "../log/logger";
import type { PairingCore } from "../relay/pairing-core";
import { addressKey, formatHostPort } from "../config/address";
import { AddressSlots } from "./address-slots";
import { parseProxyHeader } from "./proxy-protocol";
import { peekAlpn } from "./client-hello";
import { bindServer } from "./bind";
import { DirectRequestReader, type Handshake } from "./direct-request-reader";
import type { H2Endpoint } from "./h2-endpoint";
import type { TransportState } from "./transport-state";

const ignore = (): void => undefined;

/** Idle time before the kernel starts probing a connection whose peer may be gone. */
const KEEPALIVE_MS = 60_000;

/** Above max_connections we still answer 429; this far above it we drop at once. */
const HARD_CAP_FACTOR = 1.25;

/**
 * The direct listener (docs/protocol.md, "The stream protocol"): accepts connections and holds
 * them to the limits (max_connections, handshakes per address, trusted PROXY headers), then hands
 * each to the request reader (direct-request-reader.ts) for mutual TLS, the request and the
 * hand-off to the relay. Every connection gets `timeouts.handshake` to finish TLS and its
 * request; handshakes run concurrently, so a silent or slow client holds up no one else.
 */
export class DirectListener {
  private readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();
  /** Connections per client address that are still in their handshake (see onConnection). */
  private readonly handshaking = new AddressSlots();
  private readonly reader: DirectRequestReader;

  constructor(
    private readonly relay: PairingCore,
    private readonly state: () => TransportState,
    private readonly log: Logger,
    h2: H2Endpoint,
    /** Connections open on the other listeners (fronting): limits.max_connections counts them all. */
    private readonly othersOpen: () => number = () => 0,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (raw) => this.onConnection(raw));
    // EMFILE and friends at accept time arrive here; the listener keeps running.
    this.server.on("error", (err) => this.log.error("listener_error", { error: describe(err) }));
    this.reader = new DirectRequestReader(relay, h2, (st) => this.connectionCount + this.othersOpen() > st.maxConnections);
  }

  /** Open party connections, counting those the native data path holds (Node has no socket for them). */
  get connectionCount(): number {
    return this.connections.size + this.relay.sessions.handedOffConnections;
  }

  async listen(host: string, port: number): Promise<net.AddressInfo> {
    await bindServer(this.server, { kind: "tcp", host, port, text: formatHostPort(host, port) }, { setting: "address" });
    return this.server.address() as net.AddressInfo;
  }

  address(): net.AddressInfo | null {
    return this.server.address() as net.AddressInfo | null;
  }

  /**
   * Stops accepting at once. Open connections are left alone (sessions drain on their own
   * terms): net.Server.close()'s callback would wait for every one of them to end.
   */
  stopAccepting(): void {
    this.server.close();
  }

  destroyAll(): void {
    for (const c of this.connections) c.destroy();
  }

  private onConnection(raw: net.Socket): void {
    const st = this.state();
    if (this.connectionCount + this.othersOpen() >= st.maxConnections * HARD_CAP_FACTOR) {
      // Too far over to spend a TLS handshake on a 429: dropped, but still logged (bounded per
      // address) and counted like every other connection turned away.
      const remote = formatHostPort(raw.remoteAddress ?? "?", raw.remotePort ?? 0);
      raw.destroy();
      this.relay.refusals.handshakeFailed({ remote, transport: "stream" }, `closed at accept: the relay is far over its connection limit (limits.max_connections is ${st.maxConnections})`);
      return;
    }
    this.track(raw);
    // Read once, here: the kernel forgets the address once the peer has reset the connection.
    const peerAddress = raw.remoteAddress;
    let releaseSlot: (() => void) | undefined;
    const hs: Handshake = {
      raw,
      st,
      remote: formatHostPort(peerAddress ?? "?", raw.remotePort ?? 0),
      fail: (reason) => {
        hs.done();
        if (!raw.destroyed) this.relay.refusals.handshakeFailed({ remote: hs.remote, transport: "stream" }, reason);
        raw.destroy();
      },
      done: () => {
        clearTimeout(timer);
        releaseSlot?.();
        releaseSlot = undefined;
        raw.off("close", hs.done); // nothing of the handshake stays reachable from the socket
      },
    };
    const timer = setTimeout(() => hs.fail(`no request within ${st.handshakeMs / 1000}s`), st.handshakeMs);
    raw.once("close", hs.done);
    // Unauthenticated connections are bounded per client address (IPv6 per /64), so one address
    // cannot take every handshake slot. The TCP peer is counted from accept; behind a trusted
    // PROXY-protocol front the slot moves to the client the header names once it has arrived.
    const admit = (address: string | undefined): boolean => {
      releaseSlot?.();
      const key = addressKey(address);
      releaseSlot = this.handshaking.take(key, st.maxHandshakesPerAddress);
      if (!releaseSlot) hs.fail(`too many connections in handshake from ${key} (limits.max_handshakes_per_address is ${st.maxHandshakesPerAddress})`);
      return releaseSlot !== undefined;
    };
    // The ClientHello says which TLS this connection gets (see client-hello.ts).
    const afterHello = (hello: { alpn: string[] }, bytes: Buffer) => (hello.alpn.includes("h2") ? this.reader.startNativeTls(hs, bytes) : this.reader.startTls(hs, bytes));
    const ended = () => hs.fail("closed before its TLS handshake");
    if (!st.proxyProtocol) {
      if (admit(peerAddress)) readUntil(raw, Buffer.alloc(0), peekAlpn, afterHello, ended);
      return;
    }
    // PROXY protocol: only a listed front may say who the client is; anyone else could pick any
    // address (for the logs and for the per-address limit). An unreadable address is not listed.
    if (!st.proxyProtocolFrom.has(peerAddress)) return hs.fail(`${peerAddress ?? "an unknown address"} is not in proxy_protocol_from; its PROXY header would not be believed`);
    if (!admit(peerAddress)) return;
    // The header names the real client; everything after it is TLS.
    readUntil(raw, Buffer.alloc(0), parseProxyHeader, (r, head) => {
      if (r.kind === "error") return hs.fail(r.reason);
      if (r.command === "proxy" && r.source) {
        hs.remote = formatHostPort(r.source.address, r.source.port);
        if (!admit(r.source.address)) return;
      }
      readUntil(raw, head.subarray(r.consumed), peekAlpn, afterHello, ended);
    }, ended);
  }

  /**
   * What every connection keeps for its whole life. A method of its own so that the listener's
   * closure holds only the socket, not the handshake's context (held by thousands of idle
   * sessions, that context would cost them memory).
   */
  private track(raw: net.Socket): void {
    this.connections.add(raw);
    raw.on("close", () => this.connections.delete(raw));
    raw.on("error", ignore); // reported through 'close'; a reset is not our error
    // Replies and close_notify go out as soon as they are written (see RecordGate).
    raw.setNoDelay(true);
    // A peer that vanishes without a FIN (power loss, NAT state dropped) is found by the kernel.
    raw.setKeepAlive(true, KEEPALIVE_MS);
  }
}

/**
 * Collects bytes from `raw` until `parse` has what it needs (each parser bounds its input), then
 * hands over the result and the bytes read, with `raw` paused and unhooked.
 */
function readUntil<R extends { kind: string }>(raw: net.Socket, initial: Buffer, parse: (buf: Buffer) => R | { kind: "incomplete" }, then: (result: R, bytes: Buffer) => void, ended: () => void): void {
  let head = initial;
  const check = (): boolean => {
    const r = parse(head);
    if (r.kind === "incomplete") return false;
    raw.off("data", onData);
    raw.off("end", ended);
    raw.pause();
    then(r as R, head);
    return true;
  };
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    check();
  };
  if (initial.length > 0 && check()) return;
  raw.on("data", onData);
  raw.once("end", ended);
  raw.resume(); // a previous readUntil left it paused
}
