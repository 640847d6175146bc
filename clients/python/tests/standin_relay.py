"""A stand-in for the relay, to put the party library through cases a real relay won't produce
on demand: replies in the old order with the peer's ClientHello in the same segment as the
close_notify, refusals with any code, silence, hang-ups, a reply without close_notify.

It speaks the relay's side of the protocol with an SSLObject over memory BIOs, like the relay:
mutual TLS (party certificates from the relay CA), one JSON request, then what ``behaviour``
says. The default behaviour pairs connections first come, first served, with no routes.
"""
import json
import socket
import ssl
import threading
from typing import Callable, List, Optional, Tuple

IO_TIMEOUT = 60.0


class StandInParty:
    """One party's connection to the stand-in."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext) -> None:
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.identity = ""
        self.request: dict = {}
        self.raw_request = b""

    def _call(self, fn, *args):
        while True:
            try:
                result = fn(*args)
            except ssl.SSLWantReadError:
                self._flush()
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("party hung up")
                self.incoming.write(data)
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def accept(self) -> None:
        self._call(self.obj.do_handshake)
        subject = dict(rdn[0] for rdn in self.obj.getpeercert()["subject"])
        self.identity = subject["commonName"]
        buf = b""
        while True:
            buf += self._call(self.obj.read, 4096)
            try:
                self.request = json.loads(buf)
                self.raw_request = buf
                return
            except ValueError:
                continue

    def reply(self, message: dict, close_notify: bool = True, then: bytes = b"") -> None:
        """The reply, its close_notify and ``then`` (raw bytes), in one TCP write."""
        self.obj.write(json.dumps(message).encode())
        if close_notify:
            try:
                self.obj.unwrap()
            except ssl.SSLWantReadError:
                pass  # sent; the relay never waits for the party's close_notify
        self.sock.sendall(self.outgoing.read() + then)

    def refuse(self, code: int, reason: str) -> None:
        self.reply({"Mode": 0, "Code": code, "Error": reason}, close_notify=False)
        self.sock.close()


def _copy(src: socket.socket, dst: socket.socket) -> None:
    """One direction of the splice; a FIN is passed on as a FIN (half-close)."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def splice(a: socket.socket, b: socket.socket) -> None:
    threads = [threading.Thread(target=_copy, args=pair, daemon=True) for pair in ((a, b), (b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    a.close()
    b.close()


class StandInRelay:
    def __init__(self, cert: Tuple[str, str], ca: str, behaviour: Optional[Callable[["StandInRelay", StandInParty], None]] = None) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*cert)
        self.ctx.load_verify_locations(ca)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.behaviour = behaviour or StandInRelay.pair
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.parties: List[StandInParty] = []
        self.waiting: Optional[StandInParty] = None
        self.someone_waits = threading.Event()
        self.handshakes = 0
        self.old_order = False
        self._lock = threading.Lock()
        self._open: List[socket.socket] = []
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self._open.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(IO_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        party = StandInParty(sock, self.ctx)
        try:
            party.accept()
        except (OSError, EOFError, ssl.SSLError):
            with self._lock:
                self.handshakes += 1
            sock.close()
            return
        with self._lock:
            self.handshakes += 1
            self.parties.append(party)
        self.behaviour(self, party)

    def pair(self, party: StandInParty) -> None:
        with self._lock:
            waiting, self.waiting = self.waiting, (None if self.waiting else party)
        if waiting is None:
            self.someone_waits.set()
            return
        if self.old_order:
            # The order the issue caught frelay in: the waiter first. Its ClientHello then
            # reaches the late party in the same TCP write as that party's own close_notify.
            waiting.reply({"Mode": 2})
            hello = waiting.sock.recv(65536)
            party.reply({"Mode": 1}, then=hello)
        else:
            party.reply({"Mode": 1})
            waiting.reply({"Mode": 2})
        splice(waiting.sock, party.sock)

    def close(self) -> None:
        self.listener.close()
        for sock in self._open:
            try:
                sock.close()
            except OSError:
                pass
