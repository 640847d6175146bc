"""The two TLS contexts a party needs: mutual TLS with the relay, and with its peer."""
from __future__ import annotations

import os
import ssl
import tempfile
from contextlib import contextmanager
from typing import Iterator

from .errors import SettingsError
from .settings import PartySettings, PemValue


def _no_password() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal: a function would hang.
    raise SettingsError("the private key is encrypted; a party needs an unencrypted PKCS#8 or PEM key")


@contextmanager
def _as_file(value: PemValue) -> Iterator[str]:
    """A path holding the PEM: its own file, or a private temporary copy of the text.

    ``load_cert_chain`` reads only files; the copy is created 0600 (mkstemp) and removed at once.
    """
    if value.path is not None:
        yield value.path
        return
    fd, path = tempfile.mkstemp(prefix="frelay-party-", suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(value.text)
        yield path
    finally:
        os.unlink(path)


def _load_identity(ctx: ssl.SSLContext, cert: PemValue, key: PemValue, cert_env: str, key_env: str) -> None:
    with _as_file(cert) as cert_path, _as_file(key) as key_path:
        try:
            ctx.load_cert_chain(cert_path, key_path, password=_no_password)
        except ssl.SSLError as err:
            if "KEY_VALUES_MISMATCH" in str(err):
                raise SettingsError(f"{key_env} is not the key of {cert_env} (use the pair from the same party folder)") from None
            raise SettingsError(f"{cert_env}/{key_env}: cannot load the certificate and key ({err.reason or err})") from None


def _load_ca(ctx: ssl.SSLContext, ca: PemValue, env_name: str) -> None:
    try:
        ctx.load_verify_locations(cadata=ca.text)
    except (ssl.SSLError, ValueError) as err:
        raise SettingsError(f"{env_name}: not a usable CA certificate ({getattr(err, 'reason', None) or err})") from None


def _harden(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # Renegotiation would let a record arrive mid-write that needs a read: never wanted here.
    ctx.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)


def relay_context(s: PartySettings) -> ssl.SSLContext:
    """Client side of the party ↔ relay TLS. The relay's *name* is checked by the caller
    after the handshake (it may be any of several), before anything is sent."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(ctx)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    _load_ca(ctx, s.relay_ca, "RELAY_CA")
    _load_identity(ctx, s.relay_cert, s.relay_key, "RELAY_CERT", "RELAY_KEY")
    return ctx


def end_to_end_context(s: PartySettings, mode: int) -> ssl.SSLContext:
    """Mode 1: TLS server asking for the peer's certificate; Mode 2: TLS client checking that
    the peer's certificate names DEST (OpenSSL's hostname check). Both trust USER_CA only."""
    server = mode == 1
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    _harden(ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not server:
        ctx.check_hostname = True
    _load_ca(ctx, s.user_ca, "USER_CA")
    _load_identity(ctx, s.party_cert, s.party_key, "PARTY_CERT", "PARTY_KEY")
    return ctx

