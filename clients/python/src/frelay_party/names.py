"""Does a verified certificate carry a name? Hostname verification done by hand.

Needed where OpenSSL cannot do it for us: the relay's certificate may carry any one of several
names (``flockrelay`` or ``frelay``), and an end-to-end TLS *server* never checks its client's
name. The rules are those of a TLS client (RFC 6125): DNS names from the subjectAltName (the
Common Name only when there is none), case-insensitive, a ``*`` only as a whole leftmost label
standing for exactly one label; an IP address only matches an IP address entry.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Dict, Iterable, List


def _dns_names(cert: Dict[str, Any]) -> List[str]:
    sans = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    if sans:
        return sans
    return [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]


def _dns_match(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == name
    first, dot, rest = name.partition(".")
    return bool(first) and bool(dot) and "*" not in pattern[2:] and rest == pattern[2:]


def cert_matches(cert: Dict[str, Any], name: str) -> bool:
    """True when the (already verified) certificate ``cert`` names ``name``."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return any(_dns_match(pattern, name) for pattern in _dns_names(cert))
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "IP Address":
            try:
                if ipaddress.ip_address(value.strip()) == ip:
                    return True
            except ValueError:
                continue
    return False


def cert_matches_any(cert: Dict[str, Any], names: Iterable[str]) -> bool:
    return any(cert_matches(cert, name) for name in names)


def describe_names(cert: Dict[str, Any]) -> str:
    """The names a certificate carries, for an error message."""
    names = [value for _kind, value in cert.get("subjectAltName", ())] or _dns_names(cert)
    return ", ".join(names) if names else "no names"
