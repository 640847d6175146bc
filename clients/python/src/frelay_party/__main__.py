"""``python -m frelay_party [DEST]``: like ``frelay connect``, stdin to the peer, the peer to stdout.

Settings from the environment (``set -a; . party.env``). When stdin ends the sending side is
shut down (close_notify + FIN) and the peer's data is still read to its end. Exit status 0 when
both directions ended cleanly, 1 on an error (one line on stderr), 2 on a usage error.
"""
from __future__ import annotations

import argparse
import socket
import sys
import threading
from typing import List, Optional

from . import FrelayError, SettingsError, connect


def _pump_stdin(conn, failed: List[BaseException]) -> None:
    try:
        stdin = sys.stdin.buffer
        while True:
            chunk = stdin.read1(65536) if hasattr(stdin, "read1") else stdin.read(65536)
            if not chunk:
                break
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
    except (OSError, ValueError) as err:
        failed.append(err)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frelay_party", description="Pair with DEST through a frelay/Flock relay; stdin to the peer, the peer to stdout.")
    parser.add_argument("dest", nargs="?", help="the peer's identity (default: $DEST)")
    parser.add_argument("--tag", help="pairing tag (default: $TAG)")
    parser.add_argument("--relay-name", help="the name in the relay's certificate (default: $RELAY_NAME, else flockrelay or frelay)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the relay, the pairing and the end-to-end TLS (default 120)")
    parser.add_argument("-v", "--verbose", action="store_true", help="say on stderr when paired, and in which mode")
    args = parser.parse_args(argv)
    try:
        conn = connect(args.dest, args.tag, timeout=args.timeout, relay_name=args.relay_name)
    except SettingsError as err:
        print(f"frelay_party: {err}", file=sys.stderr)
        return 2
    except FrelayError as err:
        print(f"frelay_party: {err}", file=sys.stderr)
        return 1
    with conn:
        conn.settimeout(None)  # an interactive stream: the peer may be silent for as long as it likes
        if args.verbose:
            role = "end-to-end TLS server" if conn.mode == 1 else "end-to-end TLS client"
            print(f"frelay_party: paired with {conn.peer} (mode {conn.mode}, {role})", file=sys.stderr, flush=True)
        failed: List[BaseException] = []
        writer = threading.Thread(target=_pump_stdin, args=(conn, failed), daemon=True)
        writer.start()
        out = sys.stdout.buffer
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                out.write(data)
                out.flush()
        except OSError as err:
            failed.append(err)
        writer.join()
    if failed:
        print(f"frelay_party: connection with {conn.peer} failed: {failed[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
