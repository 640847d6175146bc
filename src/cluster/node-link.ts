import * as tls from "node:tls";
import type { ListenAddress } from "../config/address";
import { describe } from "../errors";
import type { Logger } from "../log/logger";
import { nodeNameOf } from "../pki/node-identity";
import { peerCertificate } from "../transport/peer-identity";
import type { PartyRequest } from "../relay/party";
import { bindServer } from "../transport/bind";

/**
 * The node-to-node link: one mutual-TLS connection per cross-node session, between node
 * certificates of the same relay CA (resuming the last TLS session with that node when it can). It opens with three JSON lines, then carries raw bytes:
 *
 *   claimant → owner   {"claim":<waiter id>,"session":<id>,"from":<node>,"request":{...}}
 *   owner → claimant   {"ok":true,"request":{...},"waited_ms":n}   or   {"ok":false,"reason":"..."}
 *   claimant → owner   {"go":true}   once its own party's Mode 1 and close_notify are written
 *
 * and only then does the owner send Mode 2 to its waiter, so the Flock reply order holds
 * across nodes. The owner sends nothing after "ok" until its waiter speaks, so the claimant
 * starts its splice on a link with nothing unread.
 */
export interface LinkTls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly crlPem?: string;
}

export interface ClaimMessage {
  readonly claim: string;
  readonly session: string;
  readonly from: string;
  readonly request: PartyRequest;
}

export interface ClaimReply {
  readonly ok: boolean;
  readonly reason?: string;
  readonly request?: PartyRequest;
  readonly waited_ms?: number;
}

/** Largest opening line: a party request is at most a few hundred bytes. */
const MAX_LINE = 16 * 1024;
const CONNECT_TIMEOUT_MS = 5000;
/** How long an owner waits for "go": the claimant's party only has to read one TLS record. */
export const GO_TIMEOUT_MS = 15_000;

/** A link that could not be used; `gone` when the owner answered that the waiter is no longer there. */
export class LinkError extends Error {
  constructor(message: string, readonly gone = false) {
    super(message);
  }
}

/**
 * Reads one '\n'-terminated line, then stops reading and puts back whatever followed, so the
 * next reader (the next line, or the splice) gets every byte. Bounded in size and time.
 */
export function readLine(sock: tls.TLSSocket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (err?: Error, line?: string) => {
      clearTimeout(timer);
      sock.off("data", onData);
      sock.off("end", onEnd);
      sock.off("close", onEnd);
      sock.off("error", onError);
      if (err) reject(err);
      else resolve(line as string);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_LINE) done(new LinkError("link line too long"));
        return;
      }
      sock.pause();
      if (nl + 1 < buf.length) sock.unshift(buf.subarray(nl + 1));
      done(undefined, buf.subarray(0, nl).toString("utf8"));
    };
    const onEnd = () => done(new LinkError("link closed"));
    const onError = (err: Error) => done(new LinkError(`link error: ${describe(err)}`));
    const timer = setTimeout(() => done(new LinkError("link timed out")), timeoutMs);
    sock.on("data", onData);
    sock.once("end", onEnd);
    sock.once("close", onEnd);
    sock.once("error", onError);
    sock.resume();
  });
}

export function writeLine(sock: tls.TLSSocket, msg: object): void {
  sock.write(`${JSON.stringify(msg)}\n`);
}

function contextOptions(t: LinkTls): tls.SecureContextOptions {
  return { ca: t.caPem, cert: t.certPem, key: t.keyPem, ...(t.crlPem ? { crl: t.crlPem } : {}), minVersion: "TLSv1.2" };
}

/** The link's other end must show a node certificate: a party's certificate never opens a link. */
function peerNode(sock: tls.TLSSocket): string | undefined {
  const cert = peerCertificate(sock); // not getPeerX509Certificate(): see peerCertificate()
  return cert ? nodeNameOf(cert) : undefined;
}

/** Accepts links from other nodes at peer_address and hands each verified claim to `onClaim`. */
export class LinkServer {
  private readonly server: tls.Server;
  private readonly sockets = new Set<tls.TLSSocket>();

  constructor(link: LinkTls, onClaim: (msg: ClaimMessage, sock: tls.TLSSocket) => void, private readonly log: Logger) {
    this.server = tls.createServer({ ...contextOptions(link), requestCert: true, rejectUnauthorized: true, allowHalfOpen: true });
    this.server.on("secureConnection", (sock) => {
      sock.setNoDelay(true);
      sock.on("error", () => undefined);
      this.sockets.add(sock);
      sock.once("close", () => this.sockets.delete(sock));
      const node = peerNode(sock);
      if (!node) {
        this.log.warn("link_refused", { remote: sock.remoteAddress, reason: "not a node certificate" });
        return void sock.destroy();
      }
      readLine(sock, CONNECT_TIMEOUT_MS).then(
        (line) => {
          const msg = JSON.parse(line) as ClaimMessage;
          if (typeof msg.claim !== "string" || typeof msg.session !== "string" || typeof msg.request?.identity !== "string") throw new LinkError("malformed claim");
          onClaim(msg, sock);
        },
      ).catch((err: unknown) => {
        this.log.warn("link_error", { peer_node: node, error: describe(err) });
        sock.destroy();
      });
    });
    this.server.on("tlsClientError", (err) => this.log.warn("link_refused", { reason: describe(err) }));
    this.server.on("error", (err) => this.log.error("link_error", { error: describe(err) }));
  }

  /** Binds peer_address; resolves with the address bound (the real port when 0 was asked). */
  async listen(address: ListenAddress & { kind: "tcp" }): Promise<string> {
    // exclusive: a worker of `start --workers` binds its own link port, not one shared via the primary.
    return bindServer(this.server, address, { setting: "cluster.peer_address", exclusive: true });
  }

  /** Stops accepting; links that carry sessions end with their sessions. */
  close(): void {
    this.server.close();
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

/**
 * TLS sessions of links this node dialled, per owner address, to resume on the next link: each
 * cross-node session opens a link, and a full handshake (two RSA signatures, two chain checks)
 * costs more than the pairing itself. Only a session whose full handshake showed a node
 * certificate is kept, and only the owner process that issued it can resume it (its ticket key
 * is its own). The owner still reads the claimant's certificate from the resumed session; the
 * claimant, which OpenSSL gives no peer chain on resumption, relies on the check it made when the
 * session was new. Bounded: one entry per owner address, at most MAX_SESSIONS owners.
 */
const sessions = new Map<string, Buffer>();
const MAX_SESSIONS = 1024;

function rememberSession(peerAddress: string, session: Buffer): void {
  sessions.delete(peerAddress);
  if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
  sessions.set(peerAddress, session);
}

/** Dials an owner and claims waiter `claim.claim`; resolves with the link, the owner's answer, and whether the link resumed a TLS session. */
export function dialClaim(link: LinkTls, peerAddress: string, claim: ClaimMessage): Promise<{ sock: tls.TLSSocket; reply: ClaimReply; resumed: boolean }> {
  const m = /^(.*):(\d+)$/.exec(peerAddress);
  if (!m) return Promise.reject(new LinkError(`bad peer address ${peerAddress}`));
  const host = (m[1] as string).replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host,
      port: Number(m[2]),
      ...contextOptions(link),
      // A FIN (close_notify) from the owner ends one direction only, as on a party's socket.
      ...({ allowHalfOpen: true } as object),
      // Nodes are named by their certificates, not by host names: peerNode() checks below.
      checkServerIdentity: () => undefined,
      ...(sessions.has(peerAddress) ? { session: sessions.get(peerAddress) } : {}),
    });
    // A ticket may arrive before the certificate is checked: kept only once it has been.
    let verified = false;
    let pending: Buffer | undefined;
    sock.on("session", (session: Buffer) => (verified ? rememberSession(peerAddress, session) : (pending = session)));
    sock.setNoDelay(true);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err instanceof LinkError ? err : new LinkError(`link to ${peerAddress}: ${describe(err)}`));
    };
    const timer = setTimeout(() => fail(new LinkError(`link to ${peerAddress} timed out`)), CONNECT_TIMEOUT_MS);
    sock.once("error", fail);
    sock.once("secureConnect", () => {
      if (!sock.isSessionReused() && !peerNode(sock)) {
        sessions.delete(peerAddress);
        return fail(new LinkError(`${peerAddress} did not show a node certificate`));
      }
      verified = true;
      if (pending) rememberSession(peerAddress, pending);
      writeLine(sock, claim);
      readLine(sock, CONNECT_TIMEOUT_MS).then((line) => {
        clearTimeout(timer);
        sock.off("error", fail);
        sock.on("error", () => undefined);
        const reply = JSON.parse(line) as ClaimReply;
        if (!reply.ok || !reply.request) {
          sock.destroy();
          return reject(new LinkError(`owner refused the claim: ${reply.reason ?? "no reason"}`, true));
        }
        resolve({ sock, reply, resumed: sock.isSessionReused() });
      }, fail);
    });
  });
}
