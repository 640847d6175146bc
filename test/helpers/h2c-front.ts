import * as http2 from "node:http2";
import * as net from "node:net";
import { startEndToEnd, type RelayedConnection } from "../../src/client/connect";
import type { PartySettings } from "../../src/client/settings";

/**
 * Plays a TLS-terminating front by hand: speaks h2c to fronting.address and forwards a client
 * certificate header, as nginx/Apache/HAProxy would. Resolves with the end-to-end connection,
 * or rejects with the HTTP status and body of a refusal.
 */
export function viaH2c(url: string, s: PartySettings, certHeader: Record<string, string>, path = "/frelay", unixSocket?: string): Promise<RelayedConnection> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, unixSocket ? { createConnection: () => net.connect(unixSocket) } : {});
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": `${path}/connect`, "frelay-dest": s.dest, "frelay-tag": s.tag, ...certHeader }, { endStream: false });
    stream.on("error", reject);
    stream.once("response", (h) => {
      if (h[":status"] !== 200) {
        let body = "";
        stream.on("data", (c: Buffer) => (body += c.toString()));
        stream.on("end", () => {
          session.close();
          reject(Object.assign(new Error(`${h[":status"]} ${body.trim()}`), { status: h[":status"] }));
        });
        return;
      }
      const mode = Number(h["frelay-mode"]) as 1 | 2;
      startEndToEnd(stream, mode, s).then((socket) => {
        socket.once("close", () => session.close());
        resolve({ socket, mode });
      }, reject);
    });
  });
}
