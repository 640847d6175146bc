import * as http2 from "node:http2";
import * as net from "node:net";
import { ClientError, RefusalError, describe } from "../errors";
import { DEFAULT_TIMEOUT_MS, type ConnectOptions } from "./options";
import { relayNameCheck, relayServername } from "./relay-name";

const MiB = 1024 * 1024;
const PING_WHILE_WAITING_MS = 200;

/*
 * The party side over HTTP/2 (docs/protocol.md, "HTTP/2"), to the relay's direct listener
 * (ALPN h2) or a front: POST <path>/connect with frelay-dest and frelay-tag, the 200 +
 * frelay-mode answer when paired, then end-to-end mutual TLS over the request/response bodies.
 * One HTTP/2 session per connection, closed with it.
 */

/** The paired HTTP/2 stream before the end-to-end TLS: what it runs over. */
export interface DialedRelayH2 {
  stream: http2.ClientHttp2Stream;
  session: http2.ClientHttp2Session;
  mode: 1 | 2;
}

/** The relay half over HTTP/2: the POST, the wait, and the 200 + frelay-mode answer. */
export function dialRelayH2(opts: ConnectOptions, addr: { host: string; port: number }): Promise<DialedRelayH2> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${net.isIPv6(addr.host) ? `[${addr.host}]` : addr.host}:${addr.port}`, {
      ca: opts.relayCa,
      cert: opts.relayCert,
      key: opts.relayKey,
      servername: relayServername(opts.relayName, addr.host),
      checkServerIdentity: relayNameCheck(opts.relayName),
      settings: { initialWindowSize: 4 * MiB, enablePush: false },
    });
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new ClientError("FRELAY_ERR_CONNECT", `no pairing with ${opts.dest} within ${timeoutMs / 1000}s`)), timeoutMs);
    session.on("error", (err) => fail(new ClientError("FRELAY_ERR_CONNECT", `HTTP/2 to ${opts.relay} failed: ${describe(err)}`)));
    session.once("connect", () => session.setLocalWindowSize(32 * MiB));
    const stream = session.request(
      { ":method": "POST", ":path": `${opts.path ?? "/frelay"}/connect`, "frelay-dest": opts.dest, "frelay-tag": opts.tag },
      { endStream: false },
    );
    stream.on("error", (err) => fail(new ClientError("FRELAY_ERR_CONNECT", `HTTP/2 stream to ${opts.relay} failed: ${describe(err)}`)));
    // Some fronts (nginx 1.22 grpc_pass) queue the relay's response headers and send them only
    // at the next event on the client's connection. Until the answer arrives, a PING now and
    // then is that event; it carries no byte of the stream.
    const nudge = setInterval(() => {
      if (!session.destroyed) session.ping(() => undefined);
    }, PING_WHILE_WAITING_MS);
    stream.once("response", () => clearInterval(nudge));
    stream.once("close", () => clearInterval(nudge));
    stream.once("response", (headers) => {
      const status = Number(headers[":status"]);
      const mode = Number(headers["frelay-mode"]);
      if (status !== 200 || (mode !== 1 && mode !== 2)) {
        let body = "";
        stream.setEncoding("utf8");
        stream.on("data", (c: string) => (body += c.slice(0, 4096)));
        stream.once("end", () => {
          fail(new RefusalError(status, body.trim() || "no reason given"));
        });
        return;
      }
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ stream, session, mode });
    });
  });
}
