#!/usr/bin/env python3
"""A Flock-style party in Python, for the interop test (test/integration/foreign-client.test.ts).

It is the supported Python party library (clients/python, ``frelay_party``), run as
``python -m frelay_party -v``: the Flock environment variables, stdin to the peer, then a
half-close, the peer's data to stdout, and the mode the relay assigned on stderr. The library
uses only Python's ssl module (memory BIOs), none of frelay's Node code.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python", "src"))

from frelay_party.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["-v"]))
