"""One bound for a whole exchange, spent across many socket calls."""
from __future__ import annotations

import socket
import time
from typing import Optional


class Deadline:
    def __init__(self, seconds: Optional[float]) -> None:
        self.seconds = seconds
        self._at = None if seconds is None else time.monotonic() + seconds

    def arm(self, sock: socket.socket) -> None:
        """Give the socket's next blocking call what is left; raises socket.timeout when none."""
        if self._at is None:
            sock.settimeout(None)
            return
        left = self._at - time.monotonic()
        if left <= 0:
            raise socket.timeout("deadline passed")
        sock.settimeout(left)

    def remaining(self) -> Optional[float]:
        return None if self._at is None else max(0.0, self._at - time.monotonic())
