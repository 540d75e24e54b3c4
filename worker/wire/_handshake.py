"""The handshake that opens every connection: both sides prove the cluster secret and derive the session keys.

    opening side  -> hello    MAGIC, version, data mode, 32-byte nonce          (38 bytes)
    accepting side -> hello    MAGIC, version, data mode, 32-byte nonce, proof   (70 bytes)
    opening side  -> proof                                                       (32 bytes)

HKDF-SHA256 over the secret, salted with both nonces, with both hellos as context, gives an
authentication key and one key per direction; a proof is HMAC(authentication key, role). Fresh
nonces on both sides make every connection's keys new, so nothing captured on one connection
(a proof, a frame) is accepted on another, and the roles in the proofs stop one side's proof
being reflected back as the other's. Nothing the peer sends is parsed until its proof checked:
the hellos are fixed-size bytes compared with constants. The connection protects its data with
``aead`` when either side asks for it, else ``mac``; the modes are in the hellos, so a third
party that changes one fails the proofs.

Wire version 1 (mchair before the handshake) sent a length-prefixed frame first: an accepting
side that reads one says so in one line. An older accepting side reads our MAGIC as a 1.3 GB
length, refuses it and closes: the opening side's line then says the peer may be an older mchair.
"""

from __future__ import annotations

import asyncio
import hmac
import os

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._errors import WireError
from ._secure import AEAD, DATA_MODES, KEY_BYTES, MAC, Session

VERSION = 2
MAGIC = b"MCHS"
HANDSHAKE_S = 5.0      # a peer that has not finished the handshake by then is dropped
_NONCE_BYTES = 32
_PROOF_BYTES = 32
_HELLO_BYTES = len(MAGIC) + 2 + _NONCE_BYTES
_HEAD_BYTES = len(MAGIC) + 2
_OLDER = "it may be an older mchair (wire version 1, no handshake): upgrade it"


class HandshakeError(ConnectionError):
    """A connection whose handshake failed; ``error`` is the WireError to count (kind handshake or old-version)."""

    def __init__(self, kind: str, detail: str) -> None:
        self.error = WireError(kind, detail, fatal=True)
        super().__init__(f"handshake failed: {detail}")


async def async_open_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes,
                             mode: str, *, clear_bytes: int, timeout: float = HANDSHAKE_S) -> Session:
    """The session of a connection this side opened; HandshakeError when the peer does not prove the secret."""
    try:
        return await asyncio.wait_for(_async_open(reader, writer, secret, mode, clear_bytes), timeout)
    except asyncio.TimeoutError:   # the builtin TimeoutError from Python 3.11 on
        raise HandshakeError("handshake", f"no handshake answer within {timeout:g} s; {_OLDER}") from None


async def async_accept_session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes,
                               mode: str, *, clear_bytes: int, timeout: float = HANDSHAKE_S) -> Session:
    """The session of a connection this side accepted; HandshakeError when the peer does not prove the
    secret, EOFError when it closed before sending anything (a port probe)."""
    try:
        return await asyncio.wait_for(_async_accept(reader, writer, secret, mode, clear_bytes), timeout)
    except asyncio.TimeoutError:   # the builtin TimeoutError from Python 3.11 on
        raise HandshakeError("handshake", f"no handshake within {timeout:g} s") from None


async def _async_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes, mode: str,
                      clear_bytes: int) -> Session:
    hello = _hello(mode)
    writer.write(hello)
    await writer.drain()
    try:
        answer = await reader.readexactly(_HELLO_BYTES)
    except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
        # An older mchair closes at once, our hello unread: its kernel may answer with a reset.
        got = len(exc.partial) if isinstance(exc, asyncio.IncompleteReadError) else 0
        raise HandshakeError("handshake", f"the peer closed the connection after {got} bytes of "
                             f"the handshake; {_OLDER}") from None
    their_mode = _check_hello(answer)
    proof = await _async_read_proof(reader)
    auth, to_them, from_them = _keys(secret, hello, answer)
    if not hmac.compare_digest(proof, _proof(auth, b"accepting")):
        raise HandshakeError("handshake", "the peer did not prove the cluster secret (another cluster's?)")
    writer.write(_proof(auth, b"opening"))
    await writer.drain()
    return Session(to_them, from_them, _agreed(mode, their_mode), clear_bytes)


async def _async_accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes, mode: str,
                        clear_bytes: int) -> Session:
    head = b""
    try:
        head = await reader.readexactly(_HEAD_BYTES)   # enough to tell an older mchair's first frame
        if not head.startswith(MAGIC):
            _check_hello(head)   # raises: an older mchair's frame, or bytes of another protocol
        hello = head + await reader.readexactly(_HELLO_BYTES - _HEAD_BYTES)
    except asyncio.IncompleteReadError as exc:
        if not head and not exc.partial:
            raise EOFError("closed before the handshake") from None
        raise HandshakeError("handshake", "closed inside the handshake") from None
    try:
        their_mode = _check_hello(hello)
    except HandshakeError:
        if hello.startswith(MAGIC):  # a newer version: tell it ours, so its line names both
            writer.write(_hello(mode))
        raise
    answer = _hello(mode)
    auth, from_them, to_them = _keys(secret, hello, answer)
    writer.write(answer + _proof(auth, b"accepting"))
    await writer.drain()
    if not hmac.compare_digest(await _async_read_proof(reader), _proof(auth, b"opening")):
        raise HandshakeError("handshake", "the peer did not prove the cluster secret (another cluster's?)")
    return Session(to_them, from_them, _agreed(mode, their_mode), clear_bytes)


def _hello(mode: str) -> bytes:
    return MAGIC + bytes((VERSION, DATA_MODES.index(mode))) + os.urandom(_NONCE_BYTES)


def _check_hello(hello: bytes) -> str:
    """The data mode a hello asks for; HandshakeError when it is not a hello of this version."""
    if not hello.startswith(MAGIC):
        if _older_frame(hello):
            raise HandshakeError("old-version", f"sent a frame, not a handshake: {_OLDER}")
        raise HandshakeError("handshake", f"not an mchair handshake (starts with {hello[:8].hex()})")
    version, mode = hello[len(MAGIC)], hello[len(MAGIC) + 1]
    if version != VERSION:
        raise HandshakeError("old-version", f"the peer speaks wire version {version}, this mchair speaks {VERSION}: "
                             "run the same mchair release on every device")
    if mode >= len(DATA_MODES):
        raise HandshakeError("handshake", f"unknown data mode {mode} in the hello")
    return DATA_MODES[mode]


def _older_frame(head: bytes) -> bool:
    # Wire version 1 starts with a frame: a 4-byte length (under 2^26) and the Avro marker C3 01.
    return len(head) >= 6 and head[0] == 0 and head[4:6] == b"\xc3\x01"


async def _async_read_proof(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readexactly(_PROOF_BYTES)
    except asyncio.IncompleteReadError:
        raise HandshakeError("handshake", "the peer closed the connection before its proof "
                             "(it has another cluster's secret?)") from None


def _keys(secret: bytes, opening_hello: bytes, accepting_hello: bytes) -> tuple[bytes, bytes, bytes]:
    """(authentication key, key of what the opening side sends, key of what the accepting side sends)."""
    salt = opening_hello[-_NONCE_BYTES:] + accepting_hello[-_NONCE_BYTES:]
    okm = HKDF(algorithm=SHA256(), length=3 * KEY_BYTES, salt=salt,
               info=b"mchair wire 2" + opening_hello + accepting_hello).derive(secret)
    return okm[:KEY_BYTES], okm[KEY_BYTES:2 * KEY_BYTES], okm[2 * KEY_BYTES:]


def _proof(auth: bytes, role: bytes) -> bytes:
    return hmac.digest(auth, role, "sha256")


def _agreed(mine: str, theirs: str) -> str:
    return AEAD if AEAD in (mine, theirs) else MAC
