"""The end-to-end TLS with the peer, and the socket-like object the caller gets.

``ssl.SSLSocket`` cannot be used here, for two reasons: the first end-to-end bytes may already
have been read while handing off from the relay's TLS (they must be given to the new TLS before
anything from the socket), and ``SSLSocket.shutdown()`` drops the TLS state, so a party could
not half-close (send close_notify and FIN) and then read the peer's answer. So the end-to-end
TLS is an ``SSLObject`` over memory BIOs too, driven by :class:`PartyConnection`.
"""
from __future__ import annotations

import collections
import errno
import io
import socket
import ssl
import threading
from typing import Any, Callable, Deque, Dict, Optional, TypeVar

from .contexts import end_to_end_context
from .deadline import Deadline
from .errors import ConnectTimeout, PeerError
from .names import cert_matches, describe_names
from .settings import PartySettings

T = TypeVar("T")

#: Plaintext per TLS record written (the TLS maximum), so the outgoing BIO stays small.
WRITE_CHUNK = 16384
RECV_CHUNK = 65536


class PartyConnection:
    """A connected, end-to-end verified stream to the peer, used like a socket.

    ``sendall``/``send``/``recv``/``recv_into``/``shutdown``/``close``/``makefile``, timeouts
    (``settimeout``; ``connect()`` leaves its own ``timeout`` on it, as
    ``socket.create_connection`` does), and ``with`` closes it. ``shutdown(socket.SHUT_WR)``
    sends close_notify and a FIN and keeps the read side open: the peer sees the end of the
    data and can still answer. ``peer`` is the peer's verified name (DEST), ``mode`` the role
    the relay assigned (1: TLS server, 2: TLS client).

    One thread may read while another writes. Non-blocking mode is not supported.
    """

    def __init__(self, sock: socket.socket, obj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, peer: str, mode: int) -> None:
        self._sock = sock
        self._obj = obj
        self._incoming = incoming
        self._outgoing = outgoing
        self.peer = peer
        self.mode = mode
        # Lock order: _write_lock → _send_lock → _ssl_lock; _recv_lock → _send_lock → _ssl_lock.
        self._ssl_lock = threading.Lock()  # the SSLObject and its BIOs
        self._send_lock = threading.Lock()  # the socket's send side, so records leave in order
        self._write_lock = threading.Lock()  # one sendall at a time
        self._recv_lock = threading.Lock()  # one reader at a time
        # TLS records made by SSLObject calls, in the order made, not yet on the wire.
        self._unsent: Deque[bytes] = collections.deque()
        # Plaintext decrypted ahead of recv() before a close_notify is sent (see _send_close_notify),
        # and how the peer's stream ended if that read reached its end.
        self._early = bytearray()
        self._peer_ended = False
        self._early_error: Optional[BaseException] = None
        self._read_ended = False
        self._write_ended = False
        self._closed = False
        self._io_refs = 0

    # -- plumbing ---------------------------------------------------------------------------

    def _ssl(self, fn: Callable[..., T], *args: Any) -> T:
        """One SSLObject call; what it wrote for the peer is queued in call order."""
        with self._ssl_lock:
            try:
                return fn(*args)
            finally:
                data = self._outgoing.read()
                if data:
                    self._unsent.append(data)

    def _flush(self) -> None:
        with self._send_lock:
            while True:
                with self._ssl_lock:
                    if not self._unsent:
                        return
                    data = self._unsent.popleft()
                self._sock.sendall(data)

    def _receive_more(self) -> None:
        chunk = self._sock.recv(RECV_CHUNK)
        with self._ssl_lock:
            if chunk:
                self._incoming.write(chunk)
            else:
                self._incoming.write_eof()

    def _handshake(self, deadline: Deadline) -> None:
        while True:
            try:
                self._ssl(self._obj.do_handshake)
            except ssl.SSLWantReadError:
                deadline.arm(self._sock)
                self._flush()
                deadline.arm(self._sock)
                self._receive_more()
                continue
            deadline.arm(self._sock)
            self._flush()
            return

    # -- the socket-like surface -------------------------------------------------------------

    def sendall(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        with self._write_lock:
            self._check_writable()
            for off in range(0, len(view), WRITE_CHUNK):
                self._ssl(self._obj.write, view[off:off + WRITE_CHUNK])
                self._flush()

    def send(self, data: Any) -> int:
        view = memoryview(data).cast("B")[:WRITE_CHUNK]
        self.sendall(view)
        return len(view)

    def recv(self, bufsize: int) -> bytes:
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        if self._closed:
            raise OSError(errno.EBADF, "connection is closed")
        with self._recv_lock:
            while not self._read_ended and bufsize > 0:
                data = self._ssl(self._read_step, bufsize)
                if self._unsent:  # e.g. a TLS 1.3 KeyUpdate answer
                    self._flush()
                if data is None:
                    self._receive_more()
                    continue
                if not data:
                    self._read_ended = True
                return data
            return b""

    def _read_step(self, bufsize: int) -> Optional[bytes]:
        """Plaintext, b"" at the end of the peer's stream, None when TLS needs more bytes."""
        if self._early:
            data = bytes(self._early[:bufsize])
            del self._early[:bufsize]
            return data
        if self._early_error is not None:
            raise self._early_error
        if self._peer_ended:
            return b""
        try:
            return self._obj.read(bufsize)
        except ssl.SSLWantReadError:
            return None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            # close_notify, or a bare FIN (what Flock-era parties send to half-close):
            # both end the stream, as SSLSocket's suppress_ragged_eofs does.
            return b""

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view))
        view[: len(data)] = data
        return len(data)

    def pending(self) -> int:
        """Decrypted bytes ready to be read without touching the socket (``select`` can't see them)."""
        with self._ssl_lock:
            return self._obj.pending()

    def shutdown(self, how: int) -> None:
        if how in (socket.SHUT_WR, socket.SHUT_RDWR):
            with self._write_lock:
                if not self._write_ended:
                    self._write_ended = True
                    self._send_close_notify()
                    self._flush()
        if how in (socket.SHUT_RD, socket.SHUT_RDWR):
            self._read_ended = True
        self._sock.shutdown(how)

    def _send_close_notify(self) -> None:
        self._ssl(self._close_notify)

    def _close_notify(self) -> None:
        # SSLObject.unwrap() calls SSL_shutdown twice, and the second call *reads*, waiting for
        # the peer's close_notify: an application record already received would be taken for
        # a protocol violation, failing the connection and sending the peer an alert. So first
        # decrypt everything received (bounded: the incoming BIO holds at most one socket read
        # beyond what TLS asked for) and keep it for recv(); then the second call finds nothing.
        while not self._peer_ended and self._early_error is None:
            try:
                chunk = self._obj.read(RECV_CHUNK)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                chunk = b""
            except ssl.SSLError as err:
                self._early_error = err
                break
            if not chunk:
                self._peer_ended = True
            self._early += chunk
        try:
            self._obj.unwrap()
        except ssl.SSLWantReadError:
            pass  # sent; the peer's own close_notify is not awaited (the read side stays open)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._io_refs <= 0:
            self._real_close()

    def _real_close(self) -> None:
        # A polite close_notify if it leaves at once; never block the close on a full socket.
        if not self._write_ended and self._write_lock.acquire(blocking=False):
            try:
                self._write_ended = True
                self._send_close_notify()
                data = b"".join(self._unsent)
                self._sock.settimeout(0)
                self._sock.send(data)
            except OSError:  # ssl.SSLError included: the connection is going away regardless
                pass
            finally:
                self._write_lock.release()
        self._sock.close()

    def _decref_socketios(self) -> None:  # called by socket.SocketIO.close()
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._real_close()

    def makefile(self, mode: str = "r", buffering: Optional[int] = None, *, encoding: Optional[str] = None, errors: Optional[str] = None, newline: Optional[str] = None) -> Any:
        """A file object over the connection, as ``socket.makefile`` gives (same arguments)."""
        if not set(mode) <= {"r", "w", "b"}:
            raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
        writing = "w" in mode
        reading = "r" in mode or not writing
        binary = "b" in mode
        raw = socket.SocketIO(self, ("r" if reading else "") + ("w" if writing else ""))  # type: ignore[arg-type]
        self._io_refs += 1
        if buffering is None or buffering < 0:
            buffering = io.DEFAULT_BUFFER_SIZE
        if buffering == 0:
            if not binary:
                raise ValueError("unbuffered streams must be binary")
            return raw
        buffer: Any
        if reading and writing:
            buffer = io.BufferedRWPair(raw, raw, buffering)
        elif reading:
            buffer = io.BufferedReader(raw, buffering)
        else:
            buffer = io.BufferedWriter(raw, buffering)
        if binary:
            return buffer
        text = io.TextIOWrapper(buffer, encoding, errors, newline)
        text.mode = mode  # type: ignore[misc]
        return text

    def settimeout(self, value: Optional[float]) -> None:
        if value is not None and value <= 0:
            raise ValueError("non-blocking mode is not supported: use a timeout > 0 or None")
        self._sock.settimeout(value)

    def gettimeout(self) -> Optional[float]:
        return self._sock.gettimeout()

    def fileno(self) -> int:
        return self._sock.fileno()

    def getpeercert(self) -> Dict[str, Any]:
        return self._obj.getpeercert()

    def version(self) -> Optional[str]:
        return self._obj.version()

    def cipher(self) -> Any:
        return self._obj.cipher()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_writable(self) -> None:
        if self._closed:
            raise OSError(errno.EBADF, "connection is closed")
        if self._write_ended:
            raise BrokenPipeError(errno.EPIPE, "the sending side was shut down")

    def __enter__(self) -> "PartyConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"mode {self.mode}"
        return f"<PartyConnection peer={self.peer!r} {state}>"


def start_end_to_end(sock: socket.socket, leftover: bytes, mode: int, s: PartySettings, deadline: Deadline, ctx: Optional[ssl.SSLContext] = None) -> PartyConnection:
    """End-to-end mutual TLS on the bare connection in the role the relay assigned, verifying
    that the peer's certificate chains to USER_CA and names DEST."""
    ctx = ctx or end_to_end_context(s, mode)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    if leftover:
        incoming.write(leftover)
    server = mode == 1
    obj = ctx.wrap_bio(incoming, outgoing, server_side=server, server_hostname=None if server else s.dest)
    conn = PartyConnection(sock, obj, incoming, outgoing, s.dest, mode)
    try:
        conn._handshake(deadline)
    except socket.timeout:
        raise ConnectTimeout(f"no end-to-end TLS with {s.dest} within {deadline.seconds:g}s") from None
    except ssl.SSLCertVerificationError as err:
        raise PeerError(f"end-to-end peer is not {s.dest}: certificate rejected: {err.verify_message} (USER_CA must be the CA of both parties' PARTY_CERT)") from None
    except ssl.SSLEOFError:
        raise PeerError(f"{s.dest} closed the connection during the end-to-end TLS handshake (it may have rejected our PARTY_CERT)") from None
    except ssl.SSLError as err:
        raise PeerError(f"end-to-end TLS with {s.dest} failed: {err.reason or err}") from None
    except OSError as err:
        raise PeerError(f"end-to-end TLS with {s.dest} failed: {err.strerror or err}") from None
    if server:
        # A TLS server checks the chain (CERT_REQUIRED) but never the client's name: do it here.
        cert = obj.getpeercert()
        if not cert_matches(cert, s.dest):
            raise PeerError(f"end-to-end peer is not {s.dest}: its certificate names {describe_names(cert)}")
    return conn
