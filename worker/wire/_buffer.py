"""A file-like reader over a frame that hands out views, so tensor bytes are never copied on decode.

fastavro's reader asks ``fo.read(n)`` for each value. Integers and floats are read a few bytes at
a time and must come back as ``bytes``; byte strings and text come back whole in one read. So
reads longer than any number get a ``Slice`` (a view of the frame) instead of a copy: a ``bytes``
field keeps the view, a ``string`` field calls ``Slice.decode``.
"""

from __future__ import annotations

# Longest read fastavro makes for a number (a double); longer reads are string/bytes payloads.
_NUMBER_BYTES = 10


class Truncated(Exception):
    """The body ends before the value being read."""


class Slice:
    """A view of ``n`` bytes of the frame, as fastavro's reader returns it for long byte strings."""

    __slots__ = ("view",)

    def __init__(self, view: memoryview) -> None:
        self.view = view

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The bytes as text (what fastavro does with a ``string`` value)."""
        return str(self.view, encoding, errors)

    def __len__(self) -> int:
        return len(self.view)


class BufferReader:
    """Reads ``view[start:end]`` for fastavro, without copying long values."""

    __slots__ = ("_bytes", "_end", "_view", "pos")

    def __init__(self, payload: bytes | bytearray | memoryview, view: memoryview, start: int, end: int) -> None:
        # Numbers are sliced from the bytes object when there is one: it is the cheapest way to
        # hand fastavro the bytes it insists on, and a frame from a StreamReader is bytes.
        self._bytes = payload if type(payload) is bytes else None
        self._view, self.pos, self._end = view, start, end

    def read(self, n: int) -> bytes | Slice:
        """The next ``n`` bytes; raises Truncated past the end, ValueError for a negative length."""
        pos = self.pos
        end = pos + n
        if end > self._end or n < 0:
            if n < 0:  # a corrupt length inside the body
                raise ValueError(f"negative length {n} at offset {pos}")
            raise Truncated(f"a value of {n} bytes at offset {pos}, the body ends at {self._end}")
        self.pos = end
        if n > _NUMBER_BYTES:
            return Slice(self._view[pos:end])
        if self._bytes is not None:
            return self._bytes[pos:end]
        return self._view[pos:end].tobytes()


def unwrap(value: object) -> object:
    """The memoryview of a Slice, anything else unchanged."""
    return value.view if type(value) is Slice else value
