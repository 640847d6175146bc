#!/usr/bin/env python3
"""A Flock-style party written without frelay's code: Python's ssl with memory BIOs.

Speaks the stream protocol (docs/protocol.md) from the party side: mutual TLS to the relay, the JSON request, the reply
read up to close_notify, then end-to-end mutual TLS over the bare TCP connection in the role
the relay assigned, starting with whatever bytes the outer TLS left unread in its BIO.
Sends stdin to the peer, half-closes, writes what the peer sent to stdout.
Settings: the Flock environment variables (PEM text). Prints the mode to stderr.
"""
import json
import os
import socket
import ssl
import sys
import tempfile


def pem_file(name):
    f = tempfile.NamedTemporaryFile("w", delete=False, suffix=".pem")
    f.write(os.environ[name])
    f.close()
    return f.name


class Tls:
    """An SSLObject driven over a socket through memory BIOs."""

    def __init__(self, sock, ctx, server_side, server_hostname=None, initial=b""):
        self.sock = sock
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        if initial:
            self.inc.write(initial)
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=server_side, server_hostname=server_hostname)

    def flush(self):
        data = self.out.read()
        if data:
            self.sock.sendall(data)

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            self.inc.write_eof()
            return False
        self.inc.write(data)
        return True

    def call(self, fn, *args):
        while True:
            try:
                result = fn(*args)
                self.flush()
                return result
            except ssl.SSLWantReadError:
                self.flush()
                if not self.fill():
                    raise EOFError("connection closed")

    def read_all(self):
        parts = []
        while True:
            try:
                chunk = self.call(self.obj.read, 65536)
            except (ssl.SSLZeroReturnError, EOFError):
                break
            if not chunk:
                break
            parts.append(chunk)
        return b"".join(parts)


def main():
    host, port = os.environ["RELAY"].rsplit(":", 1)
    dest, tag = os.environ["DEST"], os.environ.get("TAG", "")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    outer_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    outer_ctx.load_verify_locations(cadata=os.environ["RELAY_CA"])
    outer_ctx.load_cert_chain(pem_file("RELAY_CERT"), pem_file("RELAY_KEY"))
    outer = Tls(sock, outer_ctx, server_side=False, server_hostname=host)
    outer.call(outer.obj.do_handshake)
    outer.call(outer.obj.write, json.dumps({"DestParty": dest, "Tag": tag}).encode())
    reply = json.loads(outer.read_all())  # up to close_notify
    if reply.get("Mode") not in (1, 2):
        print(f"refused: {reply}", file=sys.stderr)
        sys.exit(1)
    mode = reply["Mode"]
    leftover = outer.inc.read()  # bytes after close_notify: the start of the end-to-end TLS
    print(f"mode {mode}", file=sys.stderr)

    if mode == 2:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cadata=os.environ["USER_CA"])  # hostname check on by default
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=os.environ["USER_CA"])
    ctx.load_cert_chain(pem_file("PARTY_CERT"), pem_file("PARTY_KEY"))
    e2e = Tls(sock, ctx, server_side=(mode == 1), server_hostname=dest if mode == 2 else None, initial=leftover)
    e2e.call(e2e.obj.do_handshake)
    if mode == 1:
        names = [v for k, v in e2e.obj.getpeercert().get("subjectAltName", ()) if k == "DNS"]
        if dest not in names:
            print(f"peer is not {dest}: {names}", file=sys.stderr)
            sys.exit(1)

    data = sys.stdin.buffer.read()
    for off in range(0, len(data), 16384):
        e2e.call(e2e.obj.write, data[off:off + 16384])
    sock.shutdown(socket.SHUT_WR)  # half-close: our direction is done, theirs goes on
    sys.stdout.buffer.write(e2e.read_all())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
