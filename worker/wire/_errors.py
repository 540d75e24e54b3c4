"""The one error of the wire layer: a rejected frame or message, with a kind a counter can group by."""

from __future__ import annotations

# Why a frame or message was refused; the kinds are stable (logs and counters group by them).
KINDS = ("oversize", "bad-magic", "unknown-fingerprint", "undecodable", "bad-hmac", "truncated",
         "handshake", "old-version", "bad-tag", "timeout", "too-many")


class WireError(Exception):
    """A frame or message refused by the wire layer: ``kind`` (one of KINDS) and a ``detail``.

    ``fatal`` is set when the byte stream can no longer be trusted to be in step (a length over
    the limit, a frame cut short): the connection must be closed. Otherwise only this message is
    lost and the next frame can be read.
    """

    def __init__(self, kind: str, detail: str, *, fatal: bool = False) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown wire error kind {kind!r}")
        self.kind, self.detail, self.fatal = kind, detail, fatal
        super().__init__(f"{kind}: {detail}")
