"""The errors a party can meet, one class per cause so callers can catch what they handle.

Every class carries ``error_code``, the stable code frelay's Node client gives the same
failure, so logs of Node and Python parties read alike. A refusal from the relay is a :class:`RelayRefused` whose
``code`` is the relay's HTTP-style status and ``reason`` its one-line explanation; the common
statuses have their own subclasses.
"""
from __future__ import annotations

from typing import Dict, Type


class FrelayError(Exception):
    """Base of every error this package raises on purpose."""

    error_code = "FRELAY_ERR"


class SettingsError(FrelayError, ValueError):
    """A setting is missing or unusable (bad RELAY, unreadable PEM file, ...)."""

    error_code = "FRELAY_ERR_USAGE"


class RelayUnreachable(FrelayError, ConnectionError):
    """The TCP connection to the relay failed or was cut before the relay answered."""

    error_code = "FRELAY_ERR_CONNECT"


class RelayTLSError(FrelayError):
    """The TLS handshake with the relay failed: its certificate, its name, or ours."""

    error_code = "FRELAY_ERR_CONNECT"


class RelayProtocolError(FrelayError):
    """The relay answered something that is not a frelay/Flock reply."""

    error_code = "FRELAY_ERR_PEER"


class PeerError(FrelayError):
    """The end-to-end TLS with the peer failed, or the peer is not the party asked for."""

    error_code = "FRELAY_ERR_PEER"


class ConnectTimeout(FrelayError, TimeoutError):
    """The whole exchange (relay, pairing, end-to-end TLS) did not finish within ``timeout``."""

    error_code = "FRELAY_ERR_CONNECT"


class RelayRefused(FrelayError):
    """The relay refused the request; ``code`` is its status (403, 408, ...), ``reason`` why."""

    error_code = "FRELAY_ERR_REFUSED"

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"relay refused ({code}): {reason}")
        self.code = code
        self.reason = reason

    def __reduce__(self):  # picklable (multiprocessing) despite the two-argument constructor
        return (type(self), (self.code, self.reason))


class BadRequest(RelayRefused):
    """400: the relay could not read the request."""


class NoRoute(RelayRefused):
    """403: no route allows this party and DEST to talk (also: naming oneself)."""


class PairTimeout(RelayRefused):
    """408: the peer did not arrive within the relay's pairing timeout."""


class TooManyWaiting(RelayRefused):
    """429: too many connections waiting for this identity, or the relay is full."""


class RelayUnavailable(RelayRefused):
    """503: the relay is shutting down; retry later (another relay, or after a moment)."""


_BY_STATUS: Dict[int, Type[RelayRefused]] = {
    400: BadRequest,
    403: NoRoute,
    408: PairTimeout,
    429: TooManyWaiting,
    503: RelayUnavailable,
}


def refusal(code: int, reason: str) -> RelayRefused:
    """The most specific :class:`RelayRefused` for a status the relay sent."""
    return _BY_STATUS.get(code, RelayRefused)(code, reason)
