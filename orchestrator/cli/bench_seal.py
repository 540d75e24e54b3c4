"""``mchair bench wire``'s second table: what sealing frames costs (raw, mac, aead) against a memory copy.

A sender encodes and seals a TensorBatch, a receiver opens and decodes it; they are two devices,
so a link's speed is the slower side's. GB/s is tensor bytes over that side's time per frame.
"""

from __future__ import annotations

import os
import sys
from functools import partial

from worker.wire import AEAD, HEADER_BYTES, MAC, Session, TensorBatch, decode, encode_parts

from ._table import format_table, human_bytes
from ._timing import best_seconds

TARGET_SIZE = 4_000_000
TARGET_RATIO = 0.25        # aead at least a quarter of memcpy's speed (issue 17)
MODES = ("raw", MAC, AEAD)  # the table's column order
_KEY = os.urandom(32)
_SECRET = b"mchair bench: not a cluster secret"


def print_seal_table(batches: dict[int, TensorBatch], budget: float) -> bool:
    """Print the table for each size's batch; True when aead meets the target at TARGET_SIZE (or it was not
    measured)."""

    rows, ratios = [], {}
    for i, (size, batch) in enumerate(batches.items(), 1):
        print(f"[{i}/{len(batches)}] seal {human_bytes(size)} ...", file=sys.stderr, flush=True)
        raw = bytes(batch.tensors[0].data)
        copy = best_seconds(partial(bytearray, raw), budget / 8)
        row: list[object] = [human_bytes(size), size / copy / 1e9]
        for mode in MODES:
            slower = max(_sender_seconds(batch, mode, budget / 8), _receiver_seconds(batch, mode, budget / 8))
            row += [size / slower / 1e9, copy / slower]
            ratios[(size, mode)] = copy / slower
        rows.append(tuple(row))
    print("\nsealing frames: GB/s of tensor bytes on the slower side (sender: encode + seal; receiver: open + "
          "decode)\n")
    print(format_table(("size", "memcpy", *(c for mode in MODES for c in (mode, "ratio"))), rows))
    print("\nraw = no sealing (what mchair before issue 17 sent; no longer selectable); mac = authenticated "
          "(Poly1305);\naead = encrypted and authenticated (ChaCha20-Poly1305, the default); "
          "ratio = speed / memcpy speed")
    if (TARGET_SIZE, AEAD) not in ratios:
        print(f"\nseal target size {human_bytes(TARGET_SIZE)} not measured (add it to --sizes)")
        return True
    met = ratios[(TARGET_SIZE, AEAD)] >= TARGET_RATIO
    print(f"\ntarget: aead at least {TARGET_RATIO:g} x memcpy at {human_bytes(TARGET_SIZE)}: "
          f"{'met' if met else 'NOT met'} ({ratios[(TARGET_SIZE, AEAD)]:.2f} x)")
    return met


def _session(mode: str) -> Session:
    return Session(_KEY, _KEY, mode, HEADER_BYTES)


def _sender_seconds(batch: TensorBatch, mode: str, budget: float) -> float:

    if mode == "raw":
        return best_seconds(lambda: encode_parts(batch, _SECRET), budget)
    sender = _session(mode)
    return best_seconds(lambda: sender.seal(encode_parts(batch, _SECRET)), budget)


def _receiver_seconds(batch: TensorBatch, mode: str, budget: float) -> float:

    parts = encode_parts(batch, _SECRET)
    if mode == "raw":
        payload = b"".join(parts)
        return best_seconds(lambda: decode(payload, _SECRET), budget)
    # A frame opens once per session (its number is the nonce): each call opens frame 0 of a new
    # session, and the cost of making one is taken off.
    frame = b"".join(bytes(memoryview(p)) for p in _session(mode).seal(parts))
    making = best_seconds(lambda: _session(mode), budget / 4)
    both = best_seconds(lambda: decode(_session(mode).open(frame), _SECRET), budget)
    return max(both - making, 1e-9)
