"""Caps on the connections a server accepts: per peer host and in all, so idle sockets cannot use up its files.

A connection over a cap is closed at once, before its handshake; a connection under them has the
handshake deadline to prove the secret (``_handshake.HANDSHAKE_S``) and then holds its place
until it closes. Each process (agent, master) keeps one ``ConnectionLimits`` for its port.
"""

from __future__ import annotations

PER_PEER = 64      # a device opens one connection to each peer; loopback tests run many "devices" on one host
TOTAL = 512        # well under the 1024 open files of a default systemd service


class ConnectionLimits:
    """Counts open connections by peer host; ``admit`` says why one is refused (empty: admitted)."""

    def __init__(self, per_peer: int = PER_PEER, total: int = TOTAL) -> None:
        self.per_peer, self.total = per_peer, total
        self._open: dict[str, int] = {}

    def admit(self, peer: str) -> str:
        """Take a place for a connection from ``peer``; '' when admitted, else why not (nothing taken)."""
        held = self._open.get(peer, 0)
        if held >= self.per_peer:
            return f"{held} connections from this host already, the cap is {self.per_peer}"
        if self.count() >= self.total:
            return f"{self.count()} connections in all already, the cap is {self.total}"
        self._open[peer] = held + 1
        return ""

    def release(self, peer: str) -> None:
        """Give back the place of a connection from ``peer`` that closed."""
        held = self._open.get(peer, 0) - 1
        if held > 0:
            self._open[peer] = held
        else:
            self._open.pop(peer, None)

    def count(self, peer: str | None = None) -> int:
        """Open connections from ``peer`` (all peers if None)."""
        return self._open.get(peer, 0) if peer is not None else sum(self._open.values())
