"""frelay_party: a party for a frelay (or Flock) relay, in Python with the standard library only.

    import frelay_party
    with frelay_party.connect("1.user1") as conn:   # settings from RELAY, RELAY_CA, ... DEST
        conn.sendall(b"hello")
        conn.shutdown(socket.SHUT_WR)
        answer = conn.makefile("rb").read()

``connect`` dials the relay with mutual TLS, asks for the peer (DEST) under a tag, waits until
the relay pairs the two, then runs end-to-end mutual TLS with the peer over the same TCP
connection and checks that the peer's certificate chains to USER_CA and names DEST. What it
returns is used like a socket. Failures raise a subclass of :class:`FrelayError`; a refusal by
the relay is a :class:`RelayRefused` with the relay's ``code`` (403, 408, ...) and ``reason``.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Optional

from .connection import PartyConnection, start_end_to_end
from .contexts import end_to_end_context, relay_context
from .deadline import Deadline
from .errors import (
    BadRequest,
    ConnectTimeout,
    FrelayError,
    NoRoute,
    PairTimeout,
    PeerError,
    RelayProtocolError,
    RelayRefused,
    RelayTLSError,
    RelayUnavailable,
    RelayUnreachable,
    SettingsError,
    TooManyWaiting,
)
from .relay import dial_relay
from .settings import PartySettings, environment, resolve

__version__ = "0.1.0"

__all__ = [
    "connect",
    "load_settings",
    "PartyConnection",
    "PartySettings",
    "FrelayError",
    "SettingsError",
    "RelayUnreachable",
    "RelayTLSError",
    "RelayProtocolError",
    "RelayRefused",
    "BadRequest",
    "NoRoute",
    "PairTimeout",
    "TooManyWaiting",
    "RelayUnavailable",
    "PeerError",
    "ConnectTimeout",
]

#: The bound on one whole connect(): TCP, both TLS handshakes and the wait for the peer.
DEFAULT_TIMEOUT = 120.0


def load_settings(
    dest: Optional[str] = None,
    tag: Optional[str] = None,
    *,
    relay: Optional[str] = None,
    relay_ca: Optional[str] = None,
    relay_cert: Optional[str] = None,
    relay_key: Optional[str] = None,
    user_ca: Optional[str] = None,
    party_cert: Optional[str] = None,
    party_key: Optional[str] = None,
    relay_name: Optional[str] = None,
    env: Optional[Mapping[str, str]] = None,
) -> PartySettings:
    """The settings ``connect`` would use: each argument, else its environment variable
    (RELAY, RELAY_CA, RELAY_CERT, RELAY_KEY, USER_CA, PARTY_CERT, PARTY_KEY, DEST, TAG,
    RELAY_NAME). Certificates and keys are PEM text or a file path. Raises SettingsError
    naming every missing setting at once."""
    args = dict(
        dest=dest, tag=tag, relay=relay, relay_ca=relay_ca, relay_cert=relay_cert, relay_key=relay_key,
        user_ca=user_ca, party_cert=party_cert, party_key=party_key, relay_name=relay_name,
    )
    return resolve(args, environment(env))


def connect(
    dest: Optional[str] = None,
    tag: Optional[str] = None,
    *,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    settings: Optional[PartySettings] = None,
    **kwargs: Optional[str],
) -> PartyConnection:
    """Pair with ``dest`` through the relay and return the end-to-end verified connection.

    Settings as for :func:`load_settings`: keyword arguments of the same names, or a
    ``settings`` object made by it (``dest`` and ``tag``, when given, override its own). ``timeout`` (seconds) bounds the whole exchange, the wait
    for the peer included, and is left on the connection as its per-call socket timeout
    (``conn.settimeout(None)`` to block without bound). The relay's own pairing timeout
    (``timeouts.pair``) may refuse sooner, with :class:`PairTimeout`.
    """
    if timeout is not None and timeout <= 0:
        raise SettingsError("timeout must be a positive number of seconds, or None")
    if settings is None:
        s = load_settings(dest, tag, **kwargs)  # type: ignore[arg-type]
    else:  # one settings object, many connections: dest and tag may still differ per call
        s = replace(settings, dest=dest or settings.dest, tag=settings.tag if tag is None else tag)
    # Every context is built before dialing, so a bad certificate or key is reported at once,
    # not after a peer has been made to wait for us.
    relay_ctx = relay_context(s)
    e2e_ctx = {mode: end_to_end_context(s, mode) for mode in (1, 2)}
    deadline = Deadline(timeout)
    paired = dial_relay(s, deadline, relay_ctx)
    try:
        conn = start_end_to_end(paired.sock, paired.leftover, paired.mode, s, deadline, e2e_ctx[paired.mode])
    except BaseException:
        paired.sock.close()
        raise
    conn.settimeout(timeout)
    return conn
