"""Sealed frames after the handshake: ChaCha20-Poly1305 per direction, the frame's number as nonce.

Each direction of a connection has its own key (from the handshake) and counts its frames; the
count is the AEAD nonce and is never sent, so a frame injected, replayed, dropped or reordered by
a third party fails its tag. With ``aead`` (the default) a payload's body is encrypted and its
header (magic + schema fingerprint: public, and the frame sizes tell the type anyway) is
authenticated in clear; with ``mac`` the whole payload is in clear and only authenticated (the
AEAD over an empty plaintext with the payload as associated data: Poly1305, no ChaCha20 stream).

ChaCha20-Poly1305, not AES-GCM: a Raspberry Pi 3/4 (Cortex-A53/A72) has no ARMv8 crypto
extensions, where ChaCha20 in NEON is ~3x faster than constant-time AES (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ._codecs import Buffer
from ._errors import WireError

AEAD, MAC = "aead", "mac"
DATA_MODES = (AEAD, MAC)          # what cluster.yaml's security.data may say; no mode turns authentication off
TAG_BYTES = 16
KEY_BYTES = 32
_NONCE_BYTES = 12


class _Direction:
    """One direction's key and frame count."""

    __slots__ = ("_count", "aead")

    def __init__(self, key: bytes) -> None:
        self.aead = ChaCha20Poly1305(key)
        self._count = 0

    def nonce(self) -> bytes:
        """The nonce of the next frame (the count; 2^64 frames never wrap)."""
        count = self._count
        self._count = count + 1
        return count.to_bytes(_NONCE_BYTES, "big")


class Session:
    """The keys of one connection: ``seal`` what this side sends, ``open`` what it receives.

    ``clear_bytes`` is how much of a payload's start goes in clear under ``aead`` (the message
    header); the rest is encrypted. A frame that fails to open raises a fatal WireError: the
    counts of both sides are out of step from then on, so the connection must close.
    """

    def __init__(self, send_key: bytes, receive_key: bytes, mode: str, clear_bytes: int) -> None:
        if mode not in DATA_MODES:
            raise ValueError(f"unknown data protection {mode!r}, expected one of {DATA_MODES}")
        self.mode, self.clear_bytes = mode, clear_bytes
        self._send, self._receive = _Direction(send_key), _Direction(receive_key)

    @property
    def overhead(self) -> int:
        """Bytes a sealed frame has more than its payload."""
        return TAG_BYTES

    def seal(self, parts: Sequence[Buffer]) -> list[Buffer]:
        """The pieces of the sealed frame for a payload given as pieces (the first is the header)."""
        nonce = self._send.nonce()
        if self.mode == MAC:
            return [*parts, self._send.aead.encrypt(nonce, b"", _joined(parts))]
        header, body = parts[0], _joined(parts[1:])
        if memoryview(header).nbytes != self.clear_bytes:
            raise ValueError(f"a payload's first piece must be its {self.clear_bytes}-byte header")
        sealed = bytearray(memoryview(body).nbytes + TAG_BYTES)
        self._send.aead.encrypt_into(nonce, body, header, sealed)
        return [header, sealed]

    def open(self, frame: bytes) -> Buffer:
        """The payload of a sealed frame; WireError (fatal) when it is short or does not authenticate."""
        view = memoryview(frame)
        if view.nbytes < TAG_BYTES + (self.clear_bytes if self.mode == AEAD else 0):
            raise WireError("bad-tag", f"sealed frame of {view.nbytes} bytes is too short", fatal=True)
        nonce = self._receive.nonce()
        try:
            if self.mode == MAC:
                self._receive.aead.decrypt(nonce, view[-TAG_BYTES:], view[:-TAG_BYTES])
                return view[:-TAG_BYTES]
            clear = self.clear_bytes
            payload = bytearray(view.nbytes - TAG_BYTES)
            payload[:clear] = view[:clear]
            self._receive.aead.decrypt_into(nonce, view[clear:], view[:clear], memoryview(payload)[clear:])
            return payload
        except InvalidTag:
            raise WireError("bad-tag", f"frame {int.from_bytes(nonce, 'big')} does not authenticate (forged, "
                            "replayed, reordered or altered)", fatal=True) from None


def _joined(parts: Sequence[Buffer]) -> Buffer:
    # One piece is used as it is (a TensorBatch's body: no copy); several are joined.
    return parts[0] if len(parts) == 1 else b"".join(parts)
