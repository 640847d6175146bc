/**
 * The floor the session figures are read against: the least a relay on Node can do per session,
 * run by the same harness (sessions.ts) with the same certificates. Not a relay anyone should
 * run: Node's native TLS straight on each TCP socket (no record gate, so no byte-exact hand-off
 * and no splice after the reply), OpenSSL's own verification with the CRL, the request read,
 * the two parties paired by tag, the replies written, and one log line per `waiting` and
 * `closed` to a file through a write stream, as a careful minimal relay would.
 *
 *   node dist/bench/floor-relay.js <certs dir> <log file>    (port on IPC, like the daemon child)
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as tls from "node:tls";

function main(certsDir: string, logFile: string): void {
  const read = (f: string) => fs.readFileSync(path.join(certsDir, f));
  const log = fs.createWriteStream(logFile, { flags: "a" });
  const line = (event: string, fields: Record<string, unknown>) => log.write(`${JSON.stringify({ level: "info", event, ...fields, time: new Date().toISOString() })}\n`);
  const waiting = new Map<string, tls.TLSSocket>();
  const server = tls.createServer(
    { cert: read("relay.pem"), key: read("relay.key"), ca: read("relay-ca.pem"), crl: read("relay.crl"), requestCert: true, rejectUnauthorized: true },
    (socket) => {
      const identity = String(socket.getPeerCertificate().subject?.CN ?? "");
      let text = "";
      const onData = (chunk: Buffer) => {
        text += chunk.toString("utf8");
        if (!text.includes("}")) return;
        socket.off("data", onData);
        const { Tag: tag } = JSON.parse(text) as { Tag: string };
        const first = waiting.get(tag);
        if (!first) {
          waiting.set(tag, socket);
          line("waiting", { identity, tag });
          return;
        }
        waiting.delete(tag);
        socket.write('{"Mode":1}');
        first.write('{"Mode":2}');
        let open = 2;
        const closed = () => --open === 0 && line("closed", { tag });
        for (const s of [first, socket]) s.once("close", closed);
      };
      socket.on("data", onData);
      socket.on("error", () => socket.destroy());
    },
  );
  server.on("tlsClientError", () => undefined);
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port;
    process.send?.({ ready: true, listeners: [`stream 127.0.0.1:${port}`] });
  });
  process.on("SIGTERM", () => process.exit(0));
}

const [certsDir, logFile] = process.argv.slice(2);
if (!certsDir || !logFile) {
  process.stderr.write("usage: floor-relay <certs dir> <log file>\n");
  process.exit(2);
}
main(certsDir, logFile);
