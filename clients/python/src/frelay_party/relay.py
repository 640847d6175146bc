"""The relay half of the protocol: mutual TLS with the relay, the request, the reply, and the
hand-off of the bare TCP connection to the end-to-end TLS.

The hand-off must be byte-exact. Once the relay has sent its reply and a TLS close_notify it
starts copying raw bytes between the two parties, so whatever follows the close_notify on the
wire (for a Mode 1 party: the peer's ClientHello, possibly in the same TCP segment) belongs to
the end-to-end TLS. The outer TLS therefore runs on an ``SSLObject`` over memory BIOs and is fed
*one whole TLS record at a time*: when the record holding the close_notify has gone in, every
byte after it is still in our hands. (OpenSSL does not read ahead by default, but nothing in
the ssl module promises that; with whole records the hand-off is exact either way.)
"""
from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

from .contexts import relay_context
from .deadline import Deadline
from .errors import (
    ConnectTimeout,
    RelayProtocolError,
    RelayTLSError,
    RelayUnreachable,
    refusal,
)
from .names import cert_matches_any, describe_names
from .settings import PartySettings, is_ip

#: TLSPlaintext header: type(1) version(2) length(2).
RECORD_HEADER = 5
#: Largest legal record body (RFC 8446 5.2: 2^14 + 256; RFC 5246: 2^14 + 2048).
MAX_RECORD_BODY = 16384 + 2048
#: The relay's reply is one small JSON object; the request has the same 4 KiB bound.
MAX_REPLY_BYTES = 4096

T = TypeVar("T")


@dataclass
class Paired:
    """The bare TCP connection after the reply, and the end-to-end role the relay assigned."""

    sock: socket.socket
    #: 1: this party is the end-to-end TLS server; 2: the client.
    mode: int
    #: Bytes already read past the close_notify: the start of the end-to-end TLS.
    leftover: bytes


class _Closed(Exception):
    """The relay's side of TCP ended."""


class _GatedTls:
    """A TLS client on an SSLObject, fed by whole records from the socket."""

    def __init__(self, sock: socket.socket, ctx: ssl.SSLContext, sni: Optional[str], deadline: Deadline) -> None:
        self.sock = sock
        self.deadline = deadline
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_side=False, server_hostname=sni)
        self.unread = bytearray()

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.deadline.arm(self.sock)
            self.sock.sendall(data)

    def _feed_one_record(self) -> None:
        while True:
            if len(self.unread) >= RECORD_HEADER:
                body = int.from_bytes(self.unread[3:5], "big")
                if body > MAX_RECORD_BODY:
                    raise RelayProtocolError("the relay sent something that is not TLS (is RELAY a frelay/Flock relay?)")
                end = RECORD_HEADER + body
                if len(self.unread) >= end:
                    self.incoming.write(bytes(self.unread[:end]))
                    del self.unread[:end]
                    return
            self.deadline.arm(self.sock)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise _Closed()
            self.unread += chunk

    def call(self, fn: Callable[..., T], *args: object) -> T:
        while True:
            try:
                result = fn(*args)
            except ssl.SSLWantReadError:
                self._flush()
                self._feed_one_record()
                continue
            self._flush()
            return result

    def leftover(self) -> bytes:
        # Whole records only went in, so OpenSSL holds nothing unread; be exact anyway.
        return self.incoming.read() + bytes(self.unread)


def dial_relay(s: PartySettings, deadline: Deadline, ctx: Optional[ssl.SSLContext] = None) -> Paired:
    """TCP and mutual TLS to the relay, the request, and the reply up to its close_notify."""
    ctx = ctx or relay_context(s)
    try:
        sock = socket.create_connection((s.relay_host, s.relay_port), timeout=deadline.remaining())
    except socket.timeout:
        raise ConnectTimeout(f"cannot reach relay {s.relay} within {deadline.seconds:g}s") from None
    except OSError as err:
        raise RelayUnreachable(f"cannot reach relay {s.relay}: {err.strerror or err}") from None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode, leftover = _exchange(sock, s, ctx, deadline)
        return Paired(sock, mode, leftover)
    except BaseException:
        sock.close()
        raise


def _exchange(sock: socket.socket, s: PartySettings, ctx: ssl.SSLContext, deadline: Deadline):
    # The server name sent, as frelay connect sends it: RELAY_NAME, else the RELAY host when it
    # is a name (an SNI-routing front may need it), else flockrelay. Trust is decided by the
    # certificate check below, not by this.
    if len(s.relay_names) == 1:
        sni = None if is_ip(s.relay_names[0]) else s.relay_names[0]
    else:
        sni = s.relay_host if not is_ip(s.relay_host) else s.relay_names[0]
    outer = _GatedTls(sock, ctx, sni, deadline)
    phase = "TLS handshake with"
    try:
        outer.call(outer.obj.do_handshake)
        cert = outer.obj.getpeercert()
        if not cert_matches_any(cert, s.relay_names):
            raise RelayTLSError(
                f"relay {s.relay}: its certificate names {describe_names(cert)}, not {' or '.join(s.relay_names)}"
                " (set RELAY_NAME to the name in the relay's certificate)"
            )
        phase = "reply from"
        outer.call(outer.obj.write, json.dumps({"DestParty": s.dest, "Tag": s.tag}, separators=(",", ":")).encode())
        reply = _read_reply(outer, s)
    except socket.timeout:
        waiting = "the pairing with " + s.dest if phase == "reply from" else "the TLS handshake with relay " + s.relay
        raise ConnectTimeout(f"{waiting} did not finish within {deadline.seconds:g}s") from None
    except (_Closed, ConnectionResetError, BrokenPipeError):
        # A relay that will not take our certificate may just hang up (or reset): in TLS 1.3
        # that shows only once we wait for the reply.
        if phase == "reply from":
            raise RelayProtocolError(
                f"relay {s.relay} closed the connection without a reply"
                " (its log says why, e.g. a RELAY_CERT it does not trust, or a revoked one)"
            ) from None
        raise RelayTLSError(
            f"relay {s.relay} closed the connection during the TLS handshake"
            " (its log says why, e.g. a RELAY_CERT it does not trust, or a revoked one)"
        ) from None
    except ssl.SSLCertVerificationError as err:
        raise RelayTLSError(
            f"relay {s.relay}: certificate rejected: {err.verify_message} (RELAY_CA must be the CA that signed the relay's certificate)"
        ) from None
    except ssl.SSLError as err:
        # A relay that rejects our certificate says so with an alert, seen here in TLS 1.2 or,
        # in TLS 1.3, only when we read the reply.
        raise RelayTLSError(f"{phase} relay {s.relay} failed: {err.reason or err} (check RELAY_CERT and RELAY_KEY)") from None
    except OSError as err:
        raise RelayUnreachable(f"connection to relay {s.relay} failed: {err.strerror or err}") from None
    return _parse_reply(reply), outer.leftover()


def _read_reply(outer: _GatedTls, s: PartySettings) -> bytes:
    """Plaintext up to the close_notify (a refusal may end with a bare TCP close instead)."""
    reply = bytearray()
    while True:
        try:
            chunk = outer.call(outer.obj.read, MAX_REPLY_BYTES + 1)
        except (ssl.SSLZeroReturnError, _Closed, ssl.SSLEOFError):
            if not reply:
                raise _Closed() from None
            try:
                mode = json.loads(bytes(reply)).get("Mode")
            except (ValueError, AttributeError):
                mode = None
            if mode in (1, 2):
                # Paired, yet no close_notify: the bare connection cannot be trusted to follow.
                raise RelayProtocolError(f"relay {s.relay} closed the connection right after pairing") from None
            return bytes(reply)
        if not chunk:  # close_notify
            return bytes(reply)
        reply += chunk
        if len(reply) > MAX_REPLY_BYTES:
            raise RelayProtocolError(f"relay {s.relay} sent a reply over {MAX_REPLY_BYTES} bytes (is RELAY a frelay/Flock relay?)")


def _parse_reply(text: bytes) -> int:
    try:
        reply = json.loads(text)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise RelayProtocolError(f"the relay sent an unreadable reply: {text[:200]!r}")
    mode = reply.get("Mode")
    if mode in (1, 2) and not isinstance(mode, bool):
        return mode
    code = reply.get("Code")
    raise refusal(code if isinstance(code, int) else 0, str(reply.get("Error") or "no reason given"))
