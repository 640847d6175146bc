/** A direct connection once admitted: mutual TLS, then HTTP/2 or the stream protocol's request, refused (400, 429) or handed to the relay. */
import type * as net from "node:net";
import * as tls from "node:tls";
import { describe } from "../errors";
import { turnedAway, type PairingCore } from "../relay/pairing-core";
import { RefusalCode } from "../relay/party";
import { verifiedPeer } from "./peer-identity";
import { RecordGate } from "./record-gate";
import { RequestScanner } from "./request";
import { StreamParty, sendRefusal } from "./stream-party";
import type { H2Endpoint } from "./h2-endpoint";
import type { TransportState } from "./transport-state";

/**
 * One accepted connection before its request, as the listener hands it over: the deadline, the
 * per-address slot, and how it fails.
 */
export interface Handshake {
  readonly raw: net.Socket;
  readonly st: TransportState;
  /** The client's address for logs: the TCP peer, or what a PROXY header says. */
  remote: string;
  /** Logs handshake_failed and drops the connection. */
  fail: (reason: string) => void;
  /** The handshake phase is over (request read, or HTTP/2 adopted): stops the clock, frees the slot. */
  done: () => void;
}

/**
 * ALPN: h2 when the client offers it; otherwise the client's own first choice is echoed, because
 * Node would otherwise abort a handshake with no common protocol, and docs/protocol.md ("Transports") makes anything but
 * h2 (or no ALPN at all) the stream protocol.
 */
function chooseAlpn({ protocols }: { protocols: string[] }): string | undefined {
  return protocols.includes("h2") ? "h2" : protocols[0];
}

/**
 * The direct listener's connections once accepted and admitted (see direct-listener.ts): mutual
 * TLS, then either HTTP/2 (handed to the HTTP/2 endpoint) or the stream protocol's request, read
 * here and answered with a 400 or 429 refusal or handed to the relay.
 */
export class DirectRequestReader {
  constructor(
    private readonly relay: PairingCore,
    private readonly h2: H2Endpoint,
    /** Whether limits.max_connections is reached, counted by the listener across every listener. */
    private readonly overConnectionLimit: (st: TransportState) => boolean,
  ) {}

  /**
   * HTTP/2 (the client offered h2): Node's TLS runs natively on the TCP socket, with no JS
   * stream in the data path. Nothing is ever handed back to raw TCP on this path.
   */
  startNativeTls(hs: Handshake, initial: Buffer): void {
    const { raw, st, fail } = hs;
    if (initial.length > 0) raw.unshift(initial); // the TLSSocket reads these first
    const tlsSocket = new tls.TLSSocket(raw, serverTlsOptions(st));
    tlsSocket.on("error", (err: Error) => fail(`TLS: ${describe(err)}`));
    tlsSocket.once("secure", () => {
      const peer = verifiedPeer(tlsSocket, st.isRevoked);
      if (!peer.ok) return fail(peer.reason);
      if (tlsSocket.alpnProtocol !== "h2") return fail(`offered h2 but negotiated ${String(tlsSocket.alpnProtocol)}`);
      hs.done();
      this.h2.adopt(tlsSocket, { peer, remote: hs.remote });
    });
  }

  /** Mutual TLS over the connection (after any PROXY header), then the request or HTTP/2. */
  startTls(hs: Handshake, initial: Buffer): void {
    const { raw, st, fail, remote } = hs;
    const gate = new RecordGate(raw, undefined, initial);
    const tlsSocket = new tls.TLSSocket(gate, serverTlsOptions(st));
    // A TLSSocket over a JavaScript stream is not closed when the TCP socket under it is: left
    // alone, a connection that failed or closed before its request kept OpenSSL's state for
    // good (measured: 150 connections that closed after their handshake, +7 MiB of C heap in
    // use, never freed). Only until the TLSSocket closes, so a session holds none of it.
    const dropTls = () => tlsSocket.destroy();
    raw.once("close", dropTls);
    tlsSocket.once("close", () => raw.off("close", dropTls));
    gate.on("error", (err: Error) => fail(describe(err)));
    tlsSocket.on("error", (err: Error) => fail(`TLS: ${describe(err)}`));
    tlsSocket.on("end", () => fail("closed before sending its request"));

    tlsSocket.once("secure", () => {
      const peer = verifiedPeer(tlsSocket, st.isRevoked);
      if (!peer.ok) return fail(peer.reason);
      if (tlsSocket.alpnProtocol === "h2") {
        // HTTP/2 lives inside this TLS for good: no hand-off, so the gate just streams. (Only
        // a client whose hello could not be read here gets h2 this way: see client-hello.ts.)
        hs.done();
        tlsSocket.removeAllListeners("end");
        gate.stream();
        this.h2.adopt(tlsSocket, { peer, remote });
        return;
      }
      const scanner = new RequestScanner();
      const onData = (chunk: Buffer) => {
        const r = scanner.push(chunk);
        if (r.kind === "incomplete") return;
        hs.done();
        tlsSocket.off("data", onData);
        tlsSocket.removeAllListeners("end");
        if (r.kind === "error") {
          const reply = (code: number, reason: string) => sendRefusal(raw, tlsSocket, gate, code, reason);
          this.relay.refusals.refuse(reply, { remote, transport: "stream", identity: peer.identity }, RefusalCode.badRequest, r.reason);
          return;
        }
        const request = { identity: peer.identity, dest: r.dest, tag: r.tag, remote, transport: "stream" as const, certSerial: peer.serial };
        const party = new StreamParty(request, raw, tlsSocket, gate, (p, why) => {
          this.relay.refusals.refuse((code, reason) => p.refuse(code, reason), turnedAway(request), RefusalCode.badRequest, `protocol violation: ${why}`);
        });
        if (party.isSettled) return; // it broke the protocol while being built
        if (this.overConnectionLimit(st)) {
          const reason = `relay is at its connection limit (${st.maxConnections}); retry later`;
          this.relay.refusals.refuse((code, why) => party.refuse(code, why), turnedAway(request), RefusalCode.tooMany, reason);
          return;
        }
        this.relay.submit(party);
      };
      tlsSocket.on("data", onData);
    });
  }
}

function serverTlsOptions(st: TransportState): tls.TLSSocketOptions {
  return {
    isServer: true,
    secureContext: st.secureContext,
    requestCert: true,
    rejectUnauthorized: false, // checked in verifiedPeer(), which fails closed
    ALPNCallback: chooseAlpn,
  };
}
