"""Timing a call for the benchmarks: the best mean over batches, so one slow batch (another process,
a page fault) does not decide the figure."""

from __future__ import annotations

import time
from collections.abc import Callable

_BATCH_S = 0.005  # one timed batch; the best batch mean is kept, so a stray pause costs nothing


def best_seconds(fn: Callable[[], object], budget: float) -> float:
    """Best mean time of one call over batches filling ``budget`` seconds."""
    fn()  # warm-up: first-touch page faults, fastavro's schema caches
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    per_batch = max(1, int(_BATCH_S / once))
    best, deadline = float("inf"), time.perf_counter() + budget
    while True:
        start = time.perf_counter()
        for _ in range(per_batch):
            fn()
        best = min(best, (time.perf_counter() - start) / per_batch)
        if time.perf_counter() >= deadline:
            return best


__all__ = ["best_seconds"]
