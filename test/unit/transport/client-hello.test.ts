import { describe, it } from "node:test";
import * as assert from "node:assert/strict";
import * as net from "node:net";
import * as tls from "node:tls";
import { peekAlpn } from "../../../src/transport/client-hello";

/** The first bytes a real Node TLS client sends, captured on a plain TCP server. */
async function realClientHello(ALPNProtocols?: string[]): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once("connection", (s) => {
      let buf = Buffer.alloc(0);
      s.on("data", (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (peekAlpn(buf).kind !== "incomplete") {
          resolve(buf);
          s.destroy();
        }
      });
    });
  });
  const client = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, ...(ALPNProtocols ? { ALPNProtocols } : {}) });
  client.on("error", () => undefined);
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

describe("peekAlpn: the ALPN offer in a ClientHello", () => {
  it("reads a real client's offer, in order, and none when it offers none", async () => {
    assert.deepEqual(peekAlpn(await realClientHello(["h2", "http/1.1"])), { kind: "read", alpn: ["h2", "http/1.1"] });
    assert.deepEqual(peekAlpn(await realClientHello(["flock"])), { kind: "read", alpn: ["flock"] });
    assert.deepEqual(peekAlpn(await realClientHello()), { kind: "read", alpn: [] });
  });

  it("waits for the whole first record, byte by byte", async () => {
    const hello = await realClientHello(["h2"]);
    for (let n = 0; n < hello.length; n++) assert.equal(peekAlpn(hello.subarray(0, n)).kind, "incomplete", `at ${n} bytes`);
  });

  it("never throws on garbage: not TLS, truncated bodies and lying lengths read as no ALPN", async () => {
    const hello = await realClientHello(["h2"]);
    assert.deepEqual(peekAlpn(Buffer.from("GET / HTTP/1.1\r\n\r\n")), { kind: "read", alpn: [] });
    for (let cut = 6; cut < hello.length; cut += 7) {
      const lying = Buffer.from(hello.subarray(0, cut));
      lying.writeUInt16BE(cut - 5, 3); // the record ends early, inside some field
      assert.equal(peekAlpn(lying).kind, "read");
    }
    for (let i = 0; i < 2000; i++) {
      const junk = Buffer.from(hello);
      junk[5 + Math.floor(Math.random() * (junk.length - 5))] = Math.floor(Math.random() * 256);
      assert.equal(peekAlpn(junk).kind, "read");
    }
  });
});
