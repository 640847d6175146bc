#!/usr/bin/env python3
"""Drives frelay_party's API for the Node integration test (test/integration/python-party.test.ts).

Settings come from the environment, as a deployed function gets them. Sends stdin to the peer
through ``makefile("wb")``, half-closes, reads the peer's data to its end through
``makefile("rb")``, and prints one JSON line: the mode, the peer's verified name and the
SHA-256 of what arrived. A failure prints the error's class, stable code, and for a refusal the
relay's code and reason, and exits 1.
"""
import hashlib
import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))

import frelay_party  # noqa: E402


def main() -> int:
    timeout = float(os.environ.get("PROBE_TIMEOUT", "30"))
    try:
        conn = frelay_party.connect(timeout=timeout)
    except frelay_party.FrelayError as err:
        report = {"error": type(err).__name__, "error_code": err.error_code, "message": str(err),
                  "refused": isinstance(err, frelay_party.RelayRefused)}
        if isinstance(err, frelay_party.RelayRefused):
            report.update(code=err.code, reason=err.reason)
        print(json.dumps(report), flush=True)
        return 1
    with conn:
        data = sys.stdin.buffer.read()
        with conn.makefile("wb") as w:
            w.write(data)
        conn.shutdown(socket.SHUT_WR)
        with conn.makefile("rb") as r:
            got = r.read()
    print(json.dumps({"mode": conn.mode, "peer": conn.peer, "received_sha256": hashlib.sha256(got).hexdigest(),
                      "received_bytes": len(got), "closed": conn.closed}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
