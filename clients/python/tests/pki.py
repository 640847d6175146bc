"""Certificates made at test time with the openssl command (the standard library cannot).

EC P-256 keys, for speed. The layout mirrors a frelay site: a relay CA signing the relay's
server certificate and each party's relay certificate, and a user CA signing the parties'
end-to-end certificates (CN and DNS SAN = the identity), plus foreign CAs for the negative cases.
"""
import os
import shutil
import subprocess
import tempfile
import unittest
from typing import Dict, Iterable, Tuple

OPENSSL = shutil.which("openssl")


#: Without openssl these tests skip, except where CI asks that nothing be skipped (they fail).
CAN_MAKE_CERTS = bool(OPENSSL) or os.environ.get("FRELAY_CI_NO_SKIP") == "1"

require_openssl = unittest.skipUnless(CAN_MAKE_CERTS, "the openssl command is not installed (needed to make test certificates)")


class Pki:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="frelay-party-test-")
        self._serial = 1000

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _openssl(self, *args: str) -> None:
        if not OPENSSL:
            raise AssertionError("the openssl command is required (FRELAY_CI_NO_SKIP=1)")
        r = subprocess.run([OPENSSL, *args], capture_output=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed: {r.stderr.decode()}")

    def _path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def ca(self, name: str) -> Tuple[str, str]:
        cert, key = self._path(f"{name}.ca.pem"), self._path(f"{name}.ca.key")
        self._openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", cert, "-subj", f"/CN={name}", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )
        return cert, key

    def leaf(self, tag: str, cn: str, ca: Tuple[str, str], sans: Iterable[str], usage: str) -> Tuple[str, str]:
        """A certificate for ``cn`` signed by ``ca``; ``sans`` like ["DNS:x", "IP:127.0.0.1"]."""
        cert, key, csr, ext = (self._path(f"{tag}.{s}") for s in ("pem", "key", "csr", "ext"))
        self._openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", f"/CN={cn}",
        )
        with open(ext, "w") as f:
            f.write(f"basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n")
            sans = list(sans)
            if sans:
                f.write(f"subjectAltName={','.join(sans)}\n")
        self._serial += 1
        self._openssl(
            "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-set_serial", str(self._serial),
            "-days", "2", "-sha256", "-extfile", ext, "-out", cert,
        )
        return cert, key


class Site:
    """Everything the hand-off tests need, made once per test module."""

    RELAY_NAMES = ["DNS:frelay", "DNS:flockrelay", "DNS:localhost", "IP:127.0.0.1"]

    def __init__(self) -> None:
        self.pki = Pki()
        pki = self.pki
        self.relay_ca = pki.ca("relay")
        self.relay = pki.leaf("relay-server", "frelay", self.relay_ca, self.RELAY_NAMES, "serverAuth")
        self.relay_flock_style = pki.leaf("relay-flock", "flockrelay", self.relay_ca, ["DNS:flockrelay"], "serverAuth")
        self.relay_other_name = pki.leaf("relay-other", "relay.example.org", self.relay_ca, ["DNS:relay.example.org"], "serverAuth")
        foreign_relay_ca = pki.ca("foreign-relay")
        self.relay_foreign = pki.leaf("relay-foreign", "frelay", foreign_relay_ca, self.RELAY_NAMES, "serverAuth")
        self.user_ca = pki.ca("user1")
        foreign_user_ca = pki.ca("user9")
        self.relay_certs: Dict[str, Tuple[str, str]] = {}
        self.party_certs: Dict[str, Tuple[str, str]] = {}
        for identity in ("0.user1", "1.user1", "2.user1"):
            self.relay_certs[identity] = pki.leaf(f"{identity}.relay", identity, self.relay_ca, [], "clientAuth")
            self.party_certs[identity] = pki.leaf(f"{identity}.party", identity, self.user_ca, [f"DNS:{identity}"], "serverAuth,clientAuth")
        # Claims to be 1.user1, but from another user's CA.
        self.impostor = pki.leaf("impostor.party", "1.user1", foreign_user_ca, ["DNS:1.user1"], "serverAuth,clientAuth")

    def settings_args(self, identity: str, dest: str, port: int, **over: str) -> Dict[str, str]:
        """``load_settings`` keyword arguments for a party, as file paths."""
        args = dict(
            dest=dest,
            relay=f"127.0.0.1:{port}",
            relay_ca=self.relay_ca[0],
            relay_cert=self.relay_certs[identity][0],
            relay_key=self.relay_certs[identity][1],
            user_ca=self.user_ca[0],
            party_cert=self.party_certs[identity][0],
            party_key=self.party_certs[identity][1],
        )
        args.update(over)
        return args

    def cleanup(self) -> None:
        self.pki.cleanup()
