"""The party's settings: arguments first, then the environment variables Flock clients use.

A certificate or key setting holds either the PEM text itself or the path of a PEM file, as
``frelay connect`` accepts them, so a ``party.env`` made by ``frelay cert party`` works as is.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from .errors import SettingsError

#: argument name → environment variable, in the order errors list them.
ENV_NAMES = {
    "relay": "RELAY",
    "relay_ca": "RELAY_CA",
    "relay_cert": "RELAY_CERT",
    "relay_key": "RELAY_KEY",
    "user_ca": "USER_CA",
    "party_cert": "PARTY_CERT",
    "party_key": "PARTY_KEY",
    "dest": "DEST",
}
OPTIONAL_ENV_NAMES = {"tag": "TAG", "relay_name": "RELAY_NAME"}
PEM_SETTINGS = ("relay_ca", "relay_cert", "relay_key", "user_ca", "party_cert", "party_key")

#: The names a relay certificate may carry when RELAY_NAME is not set: what Flock's fr-adm
#: issues (``flockrelay``) and what ``frelay init`` issues (``frelay``, and ``flockrelay`` too).
DEFAULT_RELAY_NAMES = ("flockrelay", "frelay")

#: A PEM value is at most this big; a larger "file" is not a certificate (or key) at all.
MAX_PEM_BYTES = 1024 * 1024


@dataclass(frozen=True)
class PemValue:
    """PEM text, and the file it came from (None when given as text)."""

    text: str
    path: Optional[str] = None


@dataclass(frozen=True)
class PartySettings:
    relay_host: str
    relay_port: int
    relay_ca: PemValue
    relay_cert: PemValue
    relay_key: PemValue
    user_ca: PemValue
    party_cert: PemValue
    party_key: PemValue
    dest: str
    tag: str
    #: The names the relay's certificate may carry (any one of them will do).
    relay_names: Tuple[str, ...]

    @property
    def relay(self) -> str:
        host = f"[{self.relay_host}]" if ":" in self.relay_host else self.relay_host
        return f"{host}:{self.relay_port}"


def pem_value(value: str, env_name: str) -> PemValue:
    """PEM text as given, or the content of the file it names."""
    if "-----BEGIN" in value:
        return PemValue(value)
    try:
        with open(value, "rb") as f:
            raw = f.read(MAX_PEM_BYTES + 1)
    except OSError:
        raise SettingsError(
            f"{env_name}: {value!r} is neither PEM text nor a readable file (set it to the PEM or its path)"
        ) from None
    text = raw.decode("utf-8", "replace")
    if len(raw) > MAX_PEM_BYTES or "-----BEGIN" not in text:
        raise SettingsError(f"{env_name}: {value} holds no PEM data (point it at a .pem or .key file)")
    return PemValue(text, value)


def parse_relay_address(text: str) -> Tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port)."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""  # a bare IPv6 address needs brackets, or its last group reads as the port
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"RELAY must be host:port (e.g. relay.example.com:6000 or [::1]:6000), not {text!r}")
    return host, int(port)


def resolve(args: Mapping[str, Optional[str]], env: Mapping[str, str]) -> PartySettings:
    """Arguments win over the environment; every missing setting is named in one error."""
    values = {}
    missing = []
    for key, env_name in {**ENV_NAMES, **OPTIONAL_ENV_NAMES}.items():
        value = args.get(key)
        if value is None:  # an argument given as "" means empty, as a flag does for frelay connect
            value = env.get(env_name, "")
        if value == "" and key in ENV_NAMES:
            missing.append(f"{env_name} (or {key}=)")
        values[key] = value
    if missing:
        raise SettingsError(
            f"missing settings: {', '.join(missing)} (source a party.env: set -a; . certs/parties/<id>/party.env)"
        )
    host, port = parse_relay_address(values["relay"])
    pems = {key: pem_value(values[key], ENV_NAMES[key]) for key in PEM_SETTINGS}
    relay_name = values["relay_name"]
    return PartySettings(
        relay_host=host,
        relay_port=port,
        dest=values["dest"],
        tag=values["tag"],
        relay_names=(relay_name,) if relay_name else DEFAULT_RELAY_NAMES,
        **pems,
    )


def environment(env: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if env is None else env


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False
